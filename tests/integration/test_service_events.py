"""Bookings (入庫予約) and completions (車検実施) from the DMS, on SQLite and PostgreSQL: they
cancel the pending reminders of the cycle, a re-import changes nothing, bad rows are
reported like a customer file's; and the conversion report counts them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dailykit as kit
from sqlalchemy import select

from outreach import bootstrap, conversion, daily
from outreach.clock import JST, FixedClock
from outreach.db.models import OutboxMessage, ServiceEvent, Vehicle
from outreach.records import csvimport

D = dt.date
DAY = D(2026, 4, 30)  # shaken stage 2 for expiry 2026-06-30


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    p = tmp_path / name
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return p


async def _queued(app: bootstrap.App) -> dict[int, str]:
    async with app.sessions() as s:
        rows = await s.execute(select(OutboxMessage.vehicle_id, OutboxMessage.status))
        return {int(v): str(st) for v, st in rows}


async def test_bookings_cancel_pending_reminders_and_a_reimport_changes_nothing(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    async with app.sessions() as s, s.begin():
        vids = []
        for n in (1, 2, 3):
            c = await kit.customer(s, n, email=False, phone=False)  # post: stays queued
            vids.append(await kit.vehicle(s, n, c, shaken_expiry_on=D(2026, 6, 30)))
    clock.at = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=JST)
    await daily.run(app, DAY)
    assert set((await _queued(app)).values()) == {"queued"}

    path = write(
        tmp_path,
        "bookings.csv",
        [
            "予約番号,車両管理番号,用件,入庫予定日,店舗コード",
            "B001,V00001,車検,令和8年6月10日,",  # 和暦
            "B002,V00002,継続車検,2026/06/20,",
            "B003,V09999,車検,2026/06/20,",  # no such vehicle
            "B004,V00003,洗車,2026/06/20,",  # not a service we know
            "B005,V00003,車検,2026/13/01,",  # no such date
        ],
    )
    first = await csvimport.run(app.engine, app.settings.config_dir, "bookings", path, now=clock.at)
    assert (first.rows, first.inserted, first.reminders_cancelled) == (5, 2, 2)
    assert [(p.line, p.column) for p in first.problems] == [
        (4, "車両管理番号"),
        (5, "用件"),
        (6, "入庫予定日"),
    ]
    assert "V09999 が登録されていません" in first.problems[0].reason
    after = await _queued(app)
    assert after == {vids[0]: "cancelled", vids[1]: "cancelled", vids[2]: "queued"}
    async with app.sessions() as s:
        booked = dict((await s.execute(select(Vehicle.id, Vehicle.booked_on))).all())
        events = (await s.scalars(select(ServiceEvent).order_by(ServiceEvent.external_id))).all()
    assert booked[vids[0]] == D(2026, 6, 10) and booked[vids[1]] == D(2026, 6, 20)
    assert [(e.external_id, e.kind, e.service) for e in events] == [
        ("B001", "booking", "shaken"),
        ("B002", "booking", "shaken"),
    ]

    again = await csvimport.run(app.engine, app.settings.config_dir, "bookings", path, now=clock.at)
    assert (again.inserted, again.updated, again.unchanged, again.reminders_cancelled) == (
        0,
        0,
        2,
        0,
    )
    assert await _queued(app) == after

    # The booked vehicles get no later stage: stage 3 (a month before expiry) for the third.
    later = D(2026, 6, 1)  # 5/30 is a Saturday: the next business day
    clock.at = dt.datetime.combine(later, dt.time(9, 0), tzinfo=JST)
    await daily.run(app, later)
    async with app.sessions() as s:
        stage3 = set(
            (
                await s.scalars(select(OutboxMessage.vehicle_id).where(OutboxMessage.stage == "3"))
            ).all()
        )
    assert stage3 == {vids[2]}


async def test_a_completed_shaken_moves_the_expiry_and_needs_the_new_one(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, email=False, phone=False)
        vid = await kit.vehicle(s, 1, c, shaken_expiry_on=D(2026, 6, 30))
    clock.at = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=JST)
    await daily.run(app, DAY)
    path = write(
        tmp_path,
        "done.csv",
        [
            "作業番号,車両管理番号,用件,実施日,次回車検満了日",
            "W001,V00001,車検,2026/05/20,2028/06/30",
            "W002,V00001,車検,2026/05/20,",  # a 車検 without its new expiry
        ],
    )
    r = await csvimport.run(app.engine, app.settings.config_dir, "completions", path, now=clock.at)
    assert (r.inserted, r.reminders_cancelled) == (1, 1)
    assert [(p.line, p.column) for p in r.problems] == [(3, "次回車検満了日")]
    async with app.sessions() as s:
        v = await s.get(Vehicle, vid)
        assert v is not None
        assert (v.shaken_expiry_on, v.last_inspection_on) == (D(2028, 6, 30), D(2026, 5, 20))


async def test_conversion_counts_reminders_followed_by_a_booking(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    from sqlalchemy import update

    async with app.sessions() as s, s.begin():
        for n in (1, 2, 3, 4):
            c = await kit.customer(s, n, email=False, phone=False)
            await kit.vehicle(s, n, c, shaken_expiry_on=D(2026, 6, 30))
    clock.at = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=JST)
    await daily.run(app, DAY)
    async with app.sessions() as s, s.begin():  # the letters went to print that day
        await s.execute(update(OutboxMessage).values(status="printed", sent_at=clock.at))
    path = write(
        tmp_path,
        "b.csv",
        [
            "予約番号,車両管理番号,入庫予定日",
            "B1,V00001,2026/05/15",  # within 90 days of the letter
            "B2,V00002,2026/06/20",  # within too
            "B3,V00003,2026/04/01",  # before the letter: not its effect
        ],
    )
    await csvimport.run(app.engine, app.settings.config_dir, "bookings", path, now=clock.at)
    async with app.sessions() as s:
        r = await conversion.report(s, days=90)
        short = await conversion.report(s, days=30)
    assert [(x.kind, x.stage, x.channel, x.reminded, x.booked) for x in r.rows] == [
        ("shaken", "2", "post", 4, 2)
    ]
    assert r.as_dict()["rate"] == 0.5 and r.rows[0].label == "車検 第2段階 郵便"
    assert short.booked == 1  # 06/20 is 51 days after the letter
