"""DMS CSV import on SQLite and PostgreSQL: good rows in, bad rows reported, re-run is a no-op.

The CP932 file is built here (not committed): good rows with 髙橋 / 山﨑, and malformed rows —
an era date outside its era, a bad email, missing columns, a duplicate external id, and a
last line cut off in the middle.
"""

# ruff: noqa: E501  (CSV rows are data: one row per line reads best)
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import Customer, EmailBasis, InsurancePolicy, Store, Vehicle
from outreach.gate import consent
from outreach.records import csvimport

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=JST)
T1 = T0 + dt.timedelta(days=1)

CUSTOMER_HEADER = "顧客番号,氏名,フリガナ,郵便番号,住所,電話番号,メールアドレス,生年月日,状態,店舗コード,メール配信根拠,同意取得日時,同意取得方法,同意文言,備考"
GOOD_CUSTOMERS = [
    "K001,髙橋 一郎,ﾀｶﾊｼ ｲﾁﾛｳ,1410001,東京都品川区北品川1-1-1,03-1234-5678,ichiro@example.co.jp,S45.3.1,有効,S01,同意,2024/04/01 10:00,web_form,お知らせをメールで受け取る,",
    "K002,山﨑 花子,ヤマザキ ハナコ,〒150-0001,東京都渋谷区神宮前1-1,090-1234-5678,,平成31年4月30日,有効,,,,,,常連",
    "K003,佐藤 次郎,サトウ ジロウ,150-0002,東京都渋谷区渋谷2-2,0312345679,jiro@docomo.ne.jp,令和元年5月1日,在籍,,,,,,",
    "K004,鈴木 三郎,スズキ サブロウ,,,,saburo@gmail.com,1980/1/2,,,書面,2023-05-01,paper_form,ご注文書,",
]
BAD_CUSTOMERS = {  # line number in the file → (column, words of the reason)
    6: ("生年月日", "平成の期間外"),
    7: ("メールアドレス", "メールアドレスの形式が不正"),
    8: ("", "列が不足しています"),
    9: ("顧客番号", "K002 は 3 行目と重複"),
    10: ("", "ファイルが行の途中で終わっています"),
}
BAD_LINES = [
    "K005,田中 四郎,タナカ シロウ,150-0003,渋谷区,03-1111-2224,shiro@example.jp,H31.5.1,有効,,,,,,",
    "K006,伊藤 五郎,イトウ ゴロウ,150-0003,渋谷区,03-1111-2225,bad@@mail,R7.3.31,有効,,,,,,",
    "K007,欠落 太郎,ケツラク タロウ",
    "K002,重複 花子,ジュウフク ハナコ,150-0001,渋谷区,03-1111-2226,dup@example.jp,R1.5.1,有効,,,,,,",
    "K008,途中 切子,トチュウ",  # the export was cut off here: no final newline
]


def customers_file(tmp_path: Path, good: list[str] | None = None, name: str = "c.csv") -> Path:
    lines = [CUSTOMER_HEADER, *(good or GOOD_CUSTOMERS), *BAD_LINES]
    p = tmp_path / name
    p.write_bytes("\r\n".join(lines).encode("cp932"))
    return p


def write(tmp_path: Path, name: str, lines: list[str], encoding: str = "cp932") -> Path:
    p = tmp_path / name
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return p


async def add_store(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(Store).values(code="S01", name="レクサス高輪", closing_weekdays=[2])
        )


async def run(
    engine: AsyncEngine, kind: str, path: Path, now: dt.datetime = T0
) -> csvimport.Result:
    return await csvimport.run(engine, REPO / "config", kind, path, now=now)


async def snapshot(engine: AsyncEngine, model: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        table = model.__table__
        rows = await conn.execute(select(table).order_by(table.c.id))
        return [tuple(r) for r in rows]


async def test_cp932_file_imports_good_rows_and_reports_every_bad_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add_store(engine)
    path = customers_file(tmp_path)
    r = await run(engine, "customers", path)
    assert r.encoding == "cp932"
    assert (r.rows, r.inserted, r.updated, r.unchanged) == (9, 4, 0, 0)
    assert r.email_bases_added == 2
    assert r.ignored_columns == ["備考"]
    assert {p.line for p in r.problems} == set(BAD_CUSTOMERS)
    for p in r.problems:
        column, words = BAD_CUSTOMERS[p.line]
        assert p.column == column and words in p.reason, p
    async with engine.connect() as conn:
        q = select(
            Customer.external_id,
            Customer.name_kanji,
            Customer.name_kana,
            Customer.postal_code,
            Customer.birth_date,
            Customer.store_id,
            Customer.status,
        )
        got = (await conn.execute(q.order_by(Customer.external_id))).all()
        bases = (await conn.execute(select(EmailBasis.email, EmailBasis.basis))).all()
    assert [tuple(g) for g in got] == [
        ("K001", "髙橋 一郎", "タカハシ イチロウ", "141-0001", dt.date(1970, 3, 1), 1, "active"),
        ("K002", "山﨑 花子", "ヤマザキ ハナコ", "150-0001", dt.date(2019, 4, 30), None, "active"),
        ("K003", "佐藤 次郎", "サトウ ジロウ", "150-0002", dt.date(2019, 5, 1), None, "active"),
        ("K004", "鈴木 三郎", "スズキ サブロウ", None, dt.date(1980, 1, 2), None, "active"),
    ]
    assert sorted(bases) == [("ichiro@example.co.jp", "opt_in"), ("saburo@gmail.com", "written")]

    report = tmp_path / "report.csv"
    csvimport.write_report(report, r.problems)
    text = report.read_text(encoding="utf-8-sig").splitlines()
    assert text[0] == "行,列,理由" and len(text) == 1 + len(BAD_CUSTOMERS)


async def test_rerun_changes_nothing_not_even_updated_at(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add_store(engine)
    path = customers_file(tmp_path)
    await run(engine, "customers", path, T0)
    before = await snapshot(engine, Customer), await snapshot(engine, EmailBasis)
    again = await run(engine, "customers", path, T1)
    assert (again.inserted, again.updated, again.unchanged, again.email_bases_added) == (0, 0, 4, 0)
    assert (await snapshot(engine, Customer), await snapshot(engine, EmailBasis)) == before


async def test_a_changed_row_is_updated_alone(engine: AsyncEngine, tmp_path: Path) -> None:
    await add_store(engine)
    await run(engine, "customers", customers_file(tmp_path), T0)
    changed = [
        GOOD_CUSTOMERS[0],
        GOOD_CUSTOMERS[1].replace("090-1234-5678", "080-9999-0000"),
        *GOOD_CUSTOMERS[2:],
    ]
    r = await run(engine, "customers", customers_file(tmp_path, changed, "c2.csv"), T1)
    assert (r.inserted, r.updated, r.unchanged) == (0, 1, 3)
    async with engine.connect() as conn:
        rows = dict((await conn.execute(select(Customer.external_id, Customer.updated_at))).all())
        phone = await conn.scalar(select(Customer.phone).where(Customer.external_id == "K002"))
    assert phone == "080-9999-0000"
    assert rows["K002"] == T1 and rows["K001"] == rows["K003"] == rows["K004"] == T0


async def test_a_bad_row_never_half_writes_an_existing_record(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add_store(engine)
    await run(engine, "customers", customers_file(tmp_path), T0)
    before = await snapshot(engine, Customer)
    # New name (valid) and a new email (invalid) for K001: nothing of the row may be written.
    bad = (
        GOOD_CUSTOMERS[0]
        .replace("髙橋 一郎", "髙橋 太郎")
        .replace("ichiro@example.co.jp", "ichiro@")
    )
    r = await run(engine, "customers", write(tmp_path, "c3.csv", [CUSTOMER_HEADER, bad]), T1)
    assert r.rejected == 1 and r.inserted == r.updated == 0
    assert await snapshot(engine, Customer) == before


async def test_import_leaves_consent_preferences_alone(engine: AsyncEngine, tmp_path: Path) -> None:
    await add_store(engine)
    await run(engine, "customers", customers_file(tmp_path), T0)
    sessions = engine_mod.sessionmaker(engine)
    async with sessions.begin() as s:
        cid = await s.scalar(select(Customer.id).where(Customer.external_id == "K003"))
        assert await consent.record_event(s, cid, action="opt_out", scope="category:marketing",
                                          source="phone", actor="staff:test", now=T0)  # fmt: skip
    renamed = [
        *GOOD_CUSTOMERS[:2],
        GOOD_CUSTOMERS[2].replace("佐藤 次郎", "佐藤 治郎"),
        GOOD_CUSTOMERS[3],
    ]
    r = await run(engine, "customers", customers_file(tmp_path, renamed, "c4.csv"), T1)
    assert r.updated == 1
    async with sessions() as s:
        c = await s.get(Customer, cid)
        assert c is not None and c.name_kanji == "佐藤 治郎"
        assert c.opt_outs == ["category:marketing"] and c.ledger_seq == 1
        assert await consent.verify(s) == []


VEHICLE_HEADER = "車両管理番号,顧客番号,車名,型式,塗色,登録番号,初度登録年月,車検満了日,前回点検日,状態,所有者区分,所有者"
POLICY_HEADER = "証券番号,顧客番号,車両管理番号,保険会社,種別,始期日,満期日,受託区分"


async def test_vehicles_and_policies_with_references(engine: AsyncEngine, tmp_path: Path) -> None:
    await add_store(engine)
    await run(engine, "customers", customers_file(tmp_path), T0)
    vehicles = write(tmp_path, "v.csv", [
        VEHICLE_HEADER,
        "V1,K001,RX,TALH17,ソニッククォーツ,品川 300 あ 12-34,R4.3,R7.3.31,R6.3.10,保有,本人,",
        "V2,K002,NX,AAZH20,ブラック,練馬 330 さ 56-78,2021/06,令和8年6月14日,,使用中,リース,トヨタファイナンス株式会社",
        "V3,K999,LS,VXFA50,ブラック,品川 300 た 11-11,R2.1,R7.1.31,,保有,本人,",
        "V4,K003,UX,MZAH10,白,品川 300 ち 22-22,R2.13,R7.1.31,,保有,本人,",
    ])  # fmt: skip
    r = await run(engine, "vehicles", vehicles)
    assert (r.inserted, r.rejected) == (2, 2)
    assert [(p.line, p.column) for p in r.problems] == [(4, "顧客番号"), (5, "初度登録年月")]
    assert "K999 が登録されていません" in r.problems[0].reason
    async with engine.connect() as conn:
        q = select(
            Vehicle.external_id,
            Vehicle.first_registered_on,
            Vehicle.shaken_expiry_on,
            Vehicle.owner_kind,
        )
        v = (await conn.execute(q.order_by(Vehicle.id))).all()
    assert [tuple(x) for x in v] == [
        ("V1", dt.date(2022, 3, 1), dt.date(2025, 3, 31), "user"),
        ("V2", dt.date(2021, 6, 1), dt.date(2026, 6, 14), "lease"),
    ]
    assert (await run(engine, "vehicles", vehicles, T1)).unchanged == 2

    policies = write(tmp_path, "p.csv", [
        POLICY_HEADER,
        "J1,,V1,東京海上日動,自賠責,R5.3.31,R7.4.30,",
        "N1,K001,V1,あいおいニッセイ同和損害保険株式会社,任意,R6.5.1,R7.5.1,はい",
        "N2,K001,V9,三井住友海上,任意,R6.5.1,R7.5.1,",
        "N3,K001,,損保ジャパン,任意,R6.5.1,R7.5.1,",
        "N4,K002,,その他,任意,R7.5.1,R6.5.1,",
    ], encoding="utf-8")  # fmt: skip
    r = await run(engine, "policies", policies)
    assert r.encoding == "utf-8" and (r.inserted, r.rejected) == (2, 3)
    # line 6 twice: its dates are reversed, and その他 is no insurer the policy names for (8)
    assert [p.line for p in r.problems] == [4, 5, 6, 6]
    assert "V9 が登録されていません" in r.problems[0].reason
    assert any(p.line == 6 and "その他" in p.reason for p in r.problems)
    async with engine.connect() as conn:
        pol = {p.external_id: p for p in (await conn.execute(select(InsurancePolicy))).all()}
        v1_user = await conn.scalar(select(Vehicle.user_id).where(Vehicle.external_id == "V1"))
    assert pol["J1"].customer_id == v1_user  # no customer column: the vehicle's user
    assert pol["J1"].expires_at == dt.datetime(2025, 4, 30, 12, 0, tzinfo=JST)  # 自賠責: noon
    assert pol["N1"].expires_at == dt.datetime(2025, 5, 1, 16, 0, tzinfo=JST)  # 任意: 16:00
    assert pol["N1"].insurer == "aioi_nissay_dowa" and pol["N1"].held_as_processor
    assert not pol["J1"].held_as_processor


async def test_header_without_a_required_column_rejects_the_file(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    r = await run(
        engine, "customers", write(tmp_path, "h.csv", ["氏名,電話番号", "髙橋,03-1234-5678"])
    )
    assert [(p.line, p.reason) for p in r.problems] == [(1, "必須の列「顧客番号」がありません")]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Customer)) == 0


@pytest.mark.slow
async def test_a_stray_quote_in_a_100k_row_file_rejects_one_row_and_imports_the_rest(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = "顧客番号,氏名,フリガナ,生年月日"
    lines = [header, *(f"C{i:06d},顧客 {i},コキャク,S45.3.1" for i in range(100_000))]
    lines[50_001] = 'C050000,"山田 太郎,ヤマダ,S45.3.1'  # a stray quote at file line 50,002
    path = write(tmp_path, "big.csv", lines, encoding="utf-8")
    result = await csvimport.run(
        engine, REPO / "config", "customers", path, now=T0, batch_size=5000
    )
    assert result.rows == 100_000
    assert [(p.line, p.column) for p in result.problems] == [(50_002, "")]
    assert "引用符" in result.problems[0].reason
    assert result.inserted == 99_999
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(Customer))
        last = await conn.scalar(
            select(Customer.name_kanji).where(Customer.external_id == "C099999")
        )
    assert count == 99_999 and last == "顧客 99999"
