"""The dealer's day over a simulated fortnight, on both databases: daily runs, the call list
(worked every day), print batches (confirmed every day), bookings ending the cycle.

The fortnight 2026-10-26 … 2026-11-08 holds a national holiday (文化の日, Tue 11/3) and the
store's regular closing day (Wednesdays). The daily run fires at 19:30, after phone hours,
so every call is deferred to the next day the store may call: Monday 11/2's calls skip the
holiday AND the closing day and land on Thursday 11/5.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import dailykit as kit
import jpholiday
from sqlalchemy import insert, select

from outreach import bootstrap, calls, daily
from outreach.candidates.calendar import add_months
from outreach.clock import JST, FixedClock
from outreach.db.models import OutboxMessage, ServiceEvent, Store, Vehicle
from outreach.gate.context import load_context
from outreach.letters import batches

D = dt.date
FIRST, DAYS = D(2026, 10, 26), 14
CLOSED = 3  # Wednesdays
RUN_AT = dt.time(19, 30)


def _business(day: dt.date) -> bool:
    return day.isoweekday() < 6 and not jpholiday.is_holiday(day)


async def _seed(app: bootstrap.App) -> dict[str, list[int]]:
    """Per business day of the fortnight: a phone-only, a post-only and an email customer
    whose 車検 stage 2 (two months before expiry) falls on that day."""
    made: dict[str, list[int]] = defaultdict(list)
    async with app.sessions() as s, s.begin():
        store = (
            await s.execute(
                insert(Store)
                .values(
                    code="S01", name="レクサス新宿", phone="03-1111-2222", closing_weekdays=[CLOSED]
                )
                .returning(Store.id)
            )
        ).scalar_one()
        n = 0
        for offset in range(DAYS):
            day = FIRST + dt.timedelta(days=offset)
            if not _business(day):
                continue
            for channel in ("phone", "post", "email"):
                n += 1
                c = await kit.customer(
                    s,
                    n,
                    email=channel == "email",
                    post=channel == "post",
                    phone=channel == "phone",
                    store_id=store,
                )
                v = await kit.vehicle(s, n, c, shaken_expiry_on=add_months(day, 2))
                made[channel].append(v)
    return made


async def test_a_fortnight_with_a_holiday_and_a_closing_day(
    app: bootstrap.App, clock: FixedClock
) -> None:
    made = await _seed(app)
    ctx = load_context(app.settings.config_dir)
    listed: dict[int, list[dt.date]] = defaultdict(list)
    batched: dict[int, list[str]] = defaultdict(list)
    booked_vehicle: int | None = None
    for offset in range(DAYS):
        day = FIRST + dt.timedelta(days=offset)
        clock.at = dt.datetime.combine(day, RUN_AT, tzinfo=JST)
        await daily.run(app, day)
        # Staff confirm the day's print batch.
        async with app.sessions() as s, s.begin():
            for b in await batches.overview(s):
                if b.waiting:
                    for letter in await batches.letters_of(s, b.name):
                        batched[letter.reference].append(b.name)
                    await batches.confirm(s, b.name, actor="post-room", now=clock.at)
        # Staff work the day's call list the next morning's hours of that day.
        clock.at = dt.datetime.combine(day, dt.time(11, 0), tzinfo=JST)
        async with app.sessions() as s, s.begin():
            todays = await calls.day_list(s, day)
            for c in todays:
                listed[c.outbox_id].append(day)
                assert c.call_on == day  # the list says the date it may be made
                outcome, on = "reached", None
                if booked_vehicle is None:
                    outcome, on = "booked", day + dt.timedelta(days=10)
                await calls.record(
                    s,
                    ctx,
                    c.outbox_id,
                    outcome=outcome,
                    on_date=on,
                    note="",
                    actor="staff",
                    now=clock.at,
                )
                if outcome == "booked":
                    booked_vehicle = (
                        await s.execute(
                            select(OutboxMessage.vehicle_id).where(OutboxMessage.id == c.outbox_id)
                        )
                    ).scalar_one()

    async with app.sessions() as s:
        phone = (
            await s.execute(
                select(OutboxMessage.id, OutboxMessage.not_before, OutboxMessage.status).where(
                    OutboxMessage.channel == "phone"
                )
            )
        ).all()
        post = (
            await s.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.print_batch,
                    OutboxMessage.status,
                    OutboxMessage.printed_by,
                ).where(OutboxMessage.channel == "post")
            )
        ).all()
        events = (await s.scalars(select(ServiceEvent))).all()
    # Every call appears exactly once, on an allowed day, the day its first allowed time is.
    assert len(phone) == len(made["phone"]) == len(listed)
    for oid, not_before, status in phone:
        [day] = listed[oid]
        assert day == not_before.astimezone(JST).date()
        assert not jpholiday.is_holiday(day) and day.isoweekday() != CLOSED
        assert status == "called"
    days = {d for ds in listed.values() for d in ds}
    assert D(2026, 11, 3) not in days and D(2026, 10, 28) not in days and D(2026, 11, 4) not in days
    # Each call is on the first day after its stage day that is neither a holiday nor a
    # closing day: Monday 11/2's skipped the holiday and the closing day to Thursday 11/5.
    async with app.sessions() as s:
        expiry = dict(
            (
                await s.execute(
                    select(OutboxMessage.id, Vehicle.shaken_expiry_on)
                    .join(Vehicle, Vehicle.id == OutboxMessage.vehicle_id)
                    .where(OutboxMessage.channel == "phone")
                )
            ).all()
        )
    for oid, [day] in listed.items():
        expected = add_months(expiry[oid], -2) + dt.timedelta(days=1)
        while jpholiday.is_holiday(expected) or expected.isoweekday() == CLOSED:
            expected += dt.timedelta(days=1)
        assert day == expected
    on_thursday = [oid for oid, ds in listed.items() if ds == [D(2026, 11, 5)]]
    assert sorted(add_months(expiry[o], -2) for o in on_thursday) == [
        D(2026, 11, 2),
        D(2026, 11, 4),
    ]
    # Every letter exactly once, in one batch, marked printed with who.
    assert len(post) == len(made["post"]) == len(batched)
    for oid, name, status, who in post:
        assert batched[oid] == [name] and status == "printed" and who == "post-room"
    # The booking taken on the phone is a service event on the vehicle.
    assert [(e.kind, e.vehicle_id) for e in events] == [("booking", booked_vehicle)]

    # A month on: stage 3 of the first day's vehicles. The booked one gets nothing more.
    assert booked_vehicle is not None
    later = D(2026, 11, 26)  # stage 3 for expiry 2026-12-26 (stage 2 was 10/26)
    clock.at = dt.datetime.combine(later, dt.time(9, 0), tzinfo=JST)
    summary = await daily.run(app, later)
    async with app.sessions() as s:
        stage3 = dict(
            (
                await s.execute(
                    select(OutboxMessage.vehicle_id, OutboxMessage.channel).where(
                        OutboxMessage.stage == "3"
                    )
                )
            ).all()
        )
    assert summary.queued >= 2
    assert booked_vehicle not in stage3
    assert made["post"][0] in stage3 and made["email"][0] in stage3  # the control: not booked
