"""The daily run on one date: idempotent, concurrent-safe, gated per channel, with work lists."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import shutil
from pathlib import Path

import dailykit as kit
from sqlalchemy import func, select

from outreach import bootstrap, daily, settings
from outreach.clock import JST, FixedClock
from outreach.db.models import GateDecision, OutboxMessage, Run

D = dt.date
DAY = D(2026, 4, 30)  # Thursday: shaken stage 2 for expiry 6/30; nini stage 1 for 6/30
REPO = Path(__file__).resolve().parents[2]


async def _seed(app: bootstrap.App, n: int = 6) -> list[int]:
    """n email customers, each with a vehicle whose shaken stage 2 falls on DAY."""
    async with app.sessions() as s, s.begin():
        ids = []
        for i in range(n):
            c = await kit.customer(s, 100 + i)
            await kit.vehicle(s, 100 + i, c, shaken_expiry_on=D(2026, 6, 30))
            ids.append(c)
    return ids


def _read(path: Path, encoding: str) -> str:
    return path.read_bytes().decode(encoding)


def _at(clock: FixedClock, day: dt.date, hour: int = 9) -> None:
    clock.at = dt.datetime.combine(day, dt.time(hour, 0), tzinfo=JST)


async def _count(app: bootstrap.App, model: type) -> int:
    async with app.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_the_same_date_twice_queues_nothing_new(
    app: bootstrap.App, clock: FixedClock
) -> None:
    await _seed(app)
    _at(clock, DAY)
    first = await daily.run(app, DAY)
    second = await daily.run(app, DAY)
    assert (first.candidates, first.allowed, first.queued) == (6, 6, 6)
    assert (second.candidates, second.already_queued, second.queued) == (6, 6, 0)
    assert await _count(app, OutboxMessage) == 6
    assert await _count(app, GateDecision) == 6  # nothing is asked twice
    async with app.sessions() as s:
        keys = (await s.execute(select(OutboxMessage.idempotency_key))).scalars().all()
        runs = (await s.execute(select(Run).order_by(Run.id))).scalars().all()
    assert sorted(keys)[0].startswith("rem:shaken:vehicle:") and len(set(keys)) == 6
    assert [(r.status, r.summary["queued"]) for r in runs] == [("done", 6), ("done", 0)]


async def test_two_runs_at_once_queue_each_reminder_once(
    app: bootstrap.App, app_settings: settings.Settings, clock: FixedClock
) -> None:
    await _seed(app, 40)
    _at(clock, DAY)
    other = bootstrap.build(app_settings, clock=clock)
    try:
        a, b = await asyncio.gather(daily.run(app, DAY), daily.run(other, DAY))
    finally:
        await other.close()
    assert a.queued + b.queued == 40
    assert await _count(app, OutboxMessage) == 40


async def test_dry_run_decides_but_records_and_queues_nothing(
    app: bootstrap.App, clock: FixedClock
) -> None:
    await _seed(app, 3)
    _at(clock, DAY)
    s = await daily.run(app, DAY, dry_run=True)
    assert (s.candidates, s.allowed, s.queued) == (3, 3, 0)
    assert await _count(app, OutboxMessage) == 0
    assert await _count(app, GateDecision) == 0
    # A dry run never counts as the last completed run: the next real run has the same window.
    real = await daily.run(app, DAY)
    assert real.window == s.window and real.queued == 3


async def test_channel_falls_back_when_the_gate_denies_the_first(
    app: bootstrap.App, clock: FixedClock
) -> None:
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, opt_outs=["channel:email"])
        await kit.vehicle(s, 1, c, shaken_expiry_on=D(2026, 6, 30))
        no_contact = await kit.customer(s, 2, email=False, post=False, phone=False)
        await kit.vehicle(s, 2, no_contact, shaken_expiry_on=D(2026, 6, 30))
    _at(clock, DAY)
    summary = await daily.run(app, DAY)
    async with app.sessions() as s:
        rows = await kit.outbox_rows(s)
        decisions = (
            await s.execute(
                select(
                    GateDecision.customer_id, GateDecision.channel, GateDecision.allowed
                ).order_by(GateDecision.id)
            )
        ).all()
    assert [(r["customer_id"], r["channel"]) for r in rows] == [(c, "post")]
    assert (c, "email", False) in decisions and (c, "post", True) in decisions
    assert (no_contact, "email", False) in decisions  # asked, denied, recorded
    assert summary.denied == 1
    assert "CONTACT_UNREACHABLE" in summary.denied_by_reason
    assert summary.as_dict()["by_kind_stage_channel"]["shaken/2/post"] == {"allowed": 1}


async def test_phone_outside_its_hours_is_queued_for_when_they_open(
    app: bootstrap.App, clock: FixedClock
) -> None:
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, email=False, post=False)
        await kit.vehicle(s, 1, c, shaken_expiry_on=D(2026, 6, 30))
    _at(clock, DAY, hour=8)  # phone calls from 10:00 (config/gate.toml)
    summary = await daily.run(app, DAY)
    async with app.sessions() as s:
        rows = await kit.outbox_rows(s)
    assert summary.deferred == 1 and summary.queued == 1
    assert rows[0]["channel"] == "phone"
    assert rows[0]["not_before"] == dt.datetime(2026, 4, 30, 10, 0, tzinfo=JST)
    calls = Path(summary.files[0])
    # The call list of the day the call may be made, in Japanese, with that date on it.
    assert calls.parent.name == "calls" and calls.name == "2026-04-30.csv"
    table = list(csv.reader(_read(calls, "utf-8").splitlines()))
    assert table[0][:10] == [
        "架電日",
        "管理番号",
        "店舗",
        "氏名",
        "フリガナ",
        "電話番号",
        "ご用件",
        "お車",
        "登録番号",
        "期日",
    ]
    assert table[1][0] == "2026年4月30日(木)"
    assert table[1][6] == "車検のご案内（第2段階）" and table[1][9] == "2026年6月30日(火)"


async def test_print_batch_holds_only_the_notice_items_in_cp932(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    toml = config / "reminders.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('encoding = "utf-8"', 'encoding = "cp932"'),
        encoding="utf-8",
    )
    prepared = daily.setup(config, app.settings.templates_dir)
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, email=False, phone=False, name_kanji="𠮷田 髙橋")
        await kit.vehicle(s, 1, c, shaken_expiry_on=D(2026, 6, 30))
    _at(clock, DAY)
    summary = await daily.run(app, DAY, prepared=prepared)
    path, pdf = (Path(f) for f in summary.files)
    assert path.parent.name == "print" and path.name == "2026-04-30.csv"
    assert pdf.name == "2026-04-30.pdf" and pdf.read_bytes().startswith(b"%PDF")
    text = _read(path, "cp932")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == [
        "管理番号",
        "郵便番号",
        "住所1",
        "住所2",
        "宛名",
        "敬称",
        "ご案内",
        "お車",
        "登録番号",
        "満了日",
        "保険会社",
        "店舗",
        "店舗電話番号",
    ]
    assert not any("メール" in h or h == "電話番号" or "生年月日" in h for h in rows[0])
    assert rows[1][1:8] == [
        "1600023",
        "東京都新宿区",
        "西新宿1-1",
        "〓田 髙橋",  # 𠮷 is not in CP932; 髙 is
        "様",
        "車検のご案内",
        "レクサス RX",
    ]
    assert rows[1][9] == "2026年6月30日"  # a human date, not 2026-06-30
    # A second run of the date rewrites the same file: no duplicate line.
    await daily.run(app, DAY, prepared=prepared)
    assert _read(path, "cp932") == text


async def test_denied_customers_are_recorded_with_their_reasons(
    app: bootstrap.App, clock: FixedClock
) -> None:
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, opt_outs=["all"])
        await kit.vehicle(s, 1, c, shaken_expiry_on=D(2026, 6, 30))
    _at(clock, DAY)
    summary = await daily.run(app, DAY)
    assert summary.queued == 0 and summary.denied == 1
    async with app.sessions() as s:
        denied = await kit.denied(s)
    assert denied and all("OPTED_OUT" in r for _, r in denied)


async def test_catch_up_after_an_outage_sends_only_the_latest_stage(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    toml = config / "reminders.toml"
    text = toml.read_text(encoding="utf-8")
    extra = (
        "\n[[kinds.nini.stages]]\n"
        'name = "3"\nmonths_before = 0\ndays_before = 10\n'
        'templates = { email = "reminder_nini_2", post = "reminder_nini_2", '
        'phone = "reminder_nini_2" }\n'
    )
    toml.write_text(text + extra, encoding="utf-8")
    prepared = daily.setup(config, app.settings.templates_dir)
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1)
        await kit.policy(s, 1, kind="nini", customer_id=c, expires_on=D(2026, 7, 31))
    # Stages: 5/29 (Fri, 2 months), 7/17 (Fri, 14 days), 7/21 (Tue; 7/20 is 海の日).
    done = D(2026, 7, 16)
    _at(clock, done)
    await daily.run(app, done, prepared=prepared)  # the last run before the outage
    back = D(2026, 7, 22)  # down 7/17–7/21: five days
    _at(clock, back)
    summary = await daily.run(app, back, prepared=prepared)
    async with app.sessions() as s:
        rows = await kit.outbox_rows(s)
    assert summary.window.after == done
    assert [(r["kind"], r["stage"]) for r in rows] == [("nini", "3")]
