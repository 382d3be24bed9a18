"""R5/R6 on both databases: an export to an insurer carries only customers whose consent to
share with THAT insurer is in force, only the items the policy names for that insurer (no
visit history, no sensitive data, no other insurer's 委託先 data), and writes the provision
record of each person: recipient, person, items, date, basis and the consent fact."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import AuditEntry, Customer, InsurancePolicy, ProvisionRecord, Vehicle
from outreach.errors import InputRejected, NotFound
from outreach.gate import consent, purposes
from outreach.provision import insurer_export, records

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=JST)
REG = purposes.load(REPO / "config" / "purposes.toml")
_n = itertools.count(1)


async def add(engine: AsyncEngine, *grants: str, **kw: Any) -> int:
    n = next(_n)
    values: dict[str, Any] = dict(
        external_id=f"I{n:05d}", name_kanji=f"保険 {n}郎", postal_code="1000001",
        address="東京都千代田区1-1", phone="03-0000-0000", email=f"i{n}@example.jp",
        last_visit_on=dt.date(2026, 1, 10), notice_version=2, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    values.update(kw)
    async with engine.begin() as conn:
        key = (await conn.execute(insert(Customer).values(**values))).inserted_primary_key
        assert key is not None
        cid = int(key[0])
        vkey = (
            await conn.execute(
                insert(Vehicle).values(
                    external_id=f"IV{n:05d}", user_id=cid, car_name="NX",
                    registration_number="品川 300 あ 12-34", updated_at=NOW,
                )
            )
        ).inserted_primary_key  # fmt: skip
        assert vkey is not None
        vid = vkey[0]
        for k, (insurer, processor) in enumerate(
            (("tokio_marine", False), ("aioi_nissay_dowa", False), ("aioi_nissay_dowa", True))
        ):
            await conn.execute(
                insert(InsurancePolicy).values(
                    external_id=f"IP{n:05d}{k}", vehicle_id=vid, customer_id=cid,
                    insurer=insurer, kind="nini", held_as_processor=processor,
                    expires_at=NOW + dt.timedelta(days=90 + k), expires_on=dt.date(2026, 6, 1),
                    updated_at=NOW,
                )
            )  # fmt: skip
    async with engine_mod.sessionmaker(engine)() as s:
        for scope in grants:
            await consent.record_event(
                s, cid, action="grant", scope=scope, source="store", actor="staff:test", now=NOW
            )
        await s.commit()
    return cid


async def export(engine: AsyncEngine, insurer: str, out: Path) -> insurer_export.Result:
    async with engine_mod.sessionmaker(engine)() as s:
        return await insurer_export.run(s, REG, insurer, out, now=NOW, actor="test")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def test_only_customers_who_consented_to_this_insurer_are_exported(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    yes = await add(engine, "insurer_share:tokio_marine")
    other = await add(engine, "insurer_share:aioi_nissay_dowa")  # another insurer's consent
    dealer = await add(engine, "insurer_share:dealer")  # the dealer's: not this insurer's
    legacy = await add(engine, "insurer_share")  # the old unscoped consent lifts nothing
    none = await add(engine)
    withdrawn = await add(engine, "insurer_share:tokio_marine")
    suspended = await add(engine, "insurer_share:tokio_marine", use_suspended=True)
    async with engine_mod.sessionmaker(engine)() as s:
        await consent.record_event(
            s, withdrawn, action="withdraw", scope="insurer_share:tokio_marine",
            source="phone", actor="staff:test", now=NOW + dt.timedelta(minutes=1),
        )  # fmt: skip
        await s.commit()

    out = tmp_path / "tm.csv"
    result = await export(engine, "tokio_marine", out)
    assert result.customers == 1
    rows = read_csv(out)
    names = {r["氏名:customer.name_kanji"] for r in rows}
    async with engine.connect() as conn:
        want = (await conn.execute(select(Customer.name_kanji).where(Customer.id == yes))).scalar()
        recs = (await conn.execute(select(ProvisionRecord.customer_id))).scalars().all()
    assert names == {want}
    assert set(recs) == {yes}
    for cid in (other, dealer, legacy, none, withdrawn, suspended):
        assert cid not in recs

    # and the other direction: the aioi consent exports to aioi, and only that person
    result = await export(engine, "aioi_nissay_dowa", tmp_path / "an.csv")
    assert result.customers == 1
    async with engine.connect() as conn:
        aioi = (
            (
                await conn.execute(
                    select(ProvisionRecord.customer_id).where(
                        ProvisionRecord.counterparty == REG.insurers["aioi_nissay_dowa"]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert aioi == [other]


async def test_only_the_items_named_for_the_insurer_and_never_another_insurers_processor_data(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add(engine, "insurer_share:tokio_marine")
    out = tmp_path / "tm.csv"
    result = await export(engine, "tokio_marine", out)
    p8 = REG.purposes["p8"]
    allowed = {f for i in p8.items for f in REG.items[i].fields}
    assert set(result.fields) <= allowed
    assert "customer.last_visit_on" not in result.fields  # (8) does not name the visit history
    assert "customer.customer_since" not in result.fields
    assert {"customer.name_kanji", "vehicle.registration_number", "policy.insurer"} <= set(
        result.fields
    )
    rows = read_csv(out)
    column = f"{REG.items['insurance_policy'].label}:policy.insurer"
    insurers = sorted(r[column] for r in rows)
    # its own contract and the one held as agent for aioi; not aioi's 委託先 (processor) data
    assert insurers == ["aioi_nissay_dowa", "tokio_marine"]


async def test_the_provision_record_is_complete_and_shown_in_the_disclosure(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    cid = await add(engine, "insurer_share:mitsui_sumitomo")
    result = await export(engine, "mitsui_sumitomo", tmp_path / "ms.csv")
    async with engine_mod.sessionmaker(engine)() as s:
        rec = (await s.scalars(select(ProvisionRecord))).one()
        audit = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "export.insurer"))
        ).one()
        shown = await records.for_customer(s, cid)
    assert rec.direction == "provide" and rec.basis == "consent"
    assert rec.counterparty == "三井住友海上火災保険株式会社" and rec.customer_id == cid
    assert rec.at == NOW and set(rec.items) == set(REG.purposes["p8"].items) - {"sensitive"}
    assert rec.detail["consent"]["scope"] == "insurer_share:mitsui_sumitomo"
    assert rec.detail["consent"]["seq"] == 1 and rec.detail["batch"] == result.batch
    assert audit.entity_id == result.batch and audit.after["customers"] == 1
    assert len(shown) == 1
    assert shown[0]["相手方"] == "三井住友海上火災保険株式会社"
    assert shown[0]["根拠"] == "ご本人の同意"
    assert "同意による" in shown[0]["備考"] and result.batch in shown[0]["備考"]
    assert "保険契約に関する情報" in shown[0]["項目"]


async def test_unknown_insurer_and_nobody_consented_are_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add(engine, "insurer_share:tokio_marine")
    with pytest.raises(NotFound, match="unknown insurer"):
        await export(engine, "other", tmp_path / "x.csv")
    with pytest.raises(InputRejected, match="同意したお客様はいません"):
        await export(engine, "mitsui_sumitomo", tmp_path / "y.csv")
    assert not (tmp_path / "y.csv").exists()
    async with engine.connect() as conn:
        assert (await conn.execute(select(ProvisionRecord.id))).first() is None


def test_the_command_exits_2_for_an_unknown_insurer_and_1_when_nobody_consented(
    db_url: str, tmp_path: Path
) -> None:
    outreach = str(Path(sys.executable).with_name("outreach"))
    env = cli_env(db_url, tmp_path / "data")
    unknown = subprocess.run(
        [outreach, "export", "insurer", "--to", "other"], env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "unknown insurer" in unknown.stderr
    nobody = subprocess.run(
        [outreach, "export", "insurer", "--to", "tokio_marine"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert nobody.returncode == 1 and "同意したお客様はいません" in nobody.stderr
