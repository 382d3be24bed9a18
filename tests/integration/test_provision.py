"""R5 on both databases: a joint-use export writes only items ①–⑧ of in-scope customers and a
provision record for each; an import of joint-use data writes receipt records (Art. 30);
both appear in the person's disclosure; re-runs add nothing."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import AuditEntry, Customer, ProvisionRecord, Vehicle
from outreach.errors import InputRejected, NotFound
from outreach.gate import purposes
from outreach.provision import joint_export, records
from outreach.records import csvimport

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=JST)
REG = purposes.load(REPO / "config" / "purposes.toml")
_n = itertools.count(1)


async def add(engine: AsyncEngine, **kw: Any) -> int:
    n = next(_n)
    values: dict[str, Any] = dict(
        external_id=f"P{n:05d}",
        name_kanji=f"髙橋 {n}郎",
        postal_code="1000001",
        address="東京都千代田区1-1",
        phone="03-0000-0000",
        email=f"p{n}@example.jp",
        customer_since=dt.date(2020, 4, 1),
        last_visit_on=dt.date(2026, 1, 10),
        notice_version=2,
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(kw)
    async with engine.begin() as conn:
        key = (await conn.execute(insert(Customer).values(**values))).inserted_primary_key
        assert key is not None
        cid = int(key[0])
        await conn.execute(
            insert(Vehicle).values(
                external_id=f"V{n:05d}",
                user_id=cid,
                car_name="RX",
                registration_number="品川 300 あ 12-34",
                shaken_expiry_on=dt.date(2027, 5, 1),
                updated_at=NOW,
            )
        )
    return cid


async def export(engine: AsyncEngine, group: str, out: Path) -> joint_export.Result:
    async with engine_mod.sessionmaker(engine)() as s:
        return await joint_export.run(s, REG, group, out, now=NOW, actor="test")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def test_joint_use_export_writes_only_listed_items_of_in_scope_customers(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    via_lt = await add(engine, acquisition_source="lexus_tokyo")
    direct = await add(engine)
    suspended = await add(engine, acquisition_source="lexus_tokyo", use_suspended=True)
    closed = await add(engine, acquisition_source="lexus_tokyo", status="closed")
    from_toyota = await add(
        engine, acquisition="joint_use", joint_use_partner="トヨタメトロジック株式会社"
    )
    stranger = await add(engine, acquisition="joint_use", joint_use_partner="無関係商事株式会社")

    out = tmp_path / "lt.csv"
    r = await export(engine, "lexus_tokyo", out)
    assert r.customers == 1 and r.rows == 1
    rows = read_csv(out)
    assert len(rows) == 1 and rows[0]["① customer.name_kanji"].startswith("髙橋")
    header = set(rows[0])
    # only fields filed under ①–⑧: no customer number, no visit history, no insurance data
    assert all(h[0] in "①②③④⑤⑥⑦⑧" for h in header)
    assert "⑥ customer.customer_since" in header and "③ vehicle.shaken_expiry_on" in header
    assert not any("last_visit_on" in h or "policy." in h or "external_id" in h for h in header)

    r2 = await export(engine, "toyota", tmp_path / "t.csv")
    async with engine_mod.sessionmaker(engine)() as s:
        recs = (await s.scalars(select(ProvisionRecord).order_by(ProvisionRecord.id))).all()
        audits = await s.scalar(select(func.count()).where(AuditEntry.action == "export.joint_use"))
        shown = await records.for_customer(s, via_lt)
    by_group: dict[str, set[int | None]] = {}
    for rec in recs:
        assert rec.direction == "provide" and rec.basis == "joint_use"
        assert rec.items and set(rec.items) <= set("①②③④⑤⑥⑦⑧")
        by_group.setdefault(rec.detail["group"], set()).add(rec.customer_id)
    assert by_group["lexus_tokyo"] == {via_lt}
    # the 共同利用会社 group: any source, and data from within that joint use
    assert by_group["toyota"] == {via_lt, direct, from_toyota}
    assert not {suspended, closed, stranger} & (by_group["toyota"] | by_group["lexus_tokyo"])
    assert r2.customers == 3 and audits == 2
    # the person's disclosure shows both provisions, in Japanese
    assert [x["区分"] for x in shown] == ["提供", "提供"]
    assert "トヨタ自動車株式会社" in shown[0]["相手方"] and shown[0]["根拠"] == "共同利用"
    assert "① 住所、氏名" in shown[0]["項目"]


async def test_export_refuses_unknown_groups_and_empty_scopes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="no_such_group"):
        await export(engine, "no_such_group", tmp_path / "x.csv")
    await add(engine)  # direct, not via LEXUS TOKYO
    with pytest.raises(InputRejected, match="no customer is in scope"):
        await export(engine, "lexus_tokyo", tmp_path / "y.csv")
    assert not (tmp_path / "y.csv").exists()
    async with engine_mod.sessionmaker(engine)() as s:
        assert await s.scalar(select(func.count()).select_from(ProvisionRecord)) == 0


async def test_an_old_notice_is_not_exported_before_the_joint_use_was_named(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    import dataclasses

    later = dataclasses.replace(REG.joint_use.groups[0], since_version=2)
    reg = dataclasses.replace(
        REG, joint_use=dataclasses.replace(REG.joint_use, groups=(later, *REG.joint_use.groups[1:]))
    )
    old = await add(engine, notice_version=1)
    new = await add(engine, notice_version=2)
    async with engine_mod.sessionmaker(engine)() as s:
        await joint_export.run(s, reg, "toyota", tmp_path / "z.csv", now=NOW, actor="t")
        got = set((await s.scalars(select(ProvisionRecord.customer_id))).all())
    assert got == {new} and old not in got


HEADER = "顧客番号,氏名,電話番号,生年月日,取得区分,共同利用元,取得経路,取得日"


async def test_import_of_joint_use_data_writes_receipts_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    p = tmp_path / "c.csv"
    p.write_text(
        "\r\n".join(
            [
                HEADER,
                "J1,山﨑 花子,03-1111-2222,1980-01-02,共同利用,トヨタモビリティ東京株式会社,"
                "LEXUS TOKYO,2026-02-01",
                "J2,佐藤 次郎,,,共同利用,無関係商事株式会社,,2026-02-01",
                "D1,鈴木 三郎,,,直接,,,2026-02-01",
            ]
        )
        + "\r\n",
        encoding="utf-8",
    )
    r = await csvimport.run(engine, REPO / "config", "customers", p, now=NOW)
    assert r.rejected == 0 and r.receipts_recorded == 2
    again = await csvimport.run(engine, REPO / "config", "customers", p, now=NOW)
    assert again.receipts_recorded == 0
    async with engine_mod.sessionmaker(engine)() as s:
        recs = {
            x.counterparty: x
            for x in await s.scalars(
                select(ProvisionRecord).where(ProvisionRecord.direction == "receive")
            )
        }
        j1 = await s.scalar(select(Customer.id).where(Customer.external_id == "J1"))
        assert j1 is not None
        shown = await records.for_customer(s, j1)
    assert set(recs) == {"トヨタモビリティ東京株式会社", "無関係商事株式会社"}
    lt = recs["トヨタモビリティ東京株式会社"]
    assert lt.basis == "joint_use" and lt.items == ["①"]
    assert "LEXUS TOKYO" in lt.detail["obtained_by"] and lt.detail["acquired_on"] == "2026-02-01"
    assert recs["無関係商事株式会社"].basis == "third_party"
    assert shown[0]["区分"] == "受領" and "共同利用" in shown[0]["備考"]
