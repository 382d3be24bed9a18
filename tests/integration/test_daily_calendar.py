"""A year of daily runs over a handful of vehicles and policies, on SQLite and PostgreSQL.

Every expected reminder below was worked out by hand from the 2026 calendar (weekends and
national holidays), not by the code under test.
"""

from __future__ import annotations

import datetime as dt

import dailykit as kit
import pytest
from sqlalchemy import select

from outreach import bootstrap, daily
from outreach.clock import JST, FixedClock
from outreach.db.models import Customer, Flag, OutboxMessage

D = dt.date


@pytest.mark.slow
async def test_a_year_of_daily_runs(app: bootstrap.App, clock: FixedClock) -> None:
    async with app.sessions() as s, s.begin():
        c1 = await kit.customer(s, 1)
        c2 = await kit.customer(s, 2, use_suspended=True)  # 利用停止: nothing may be sent
        c3 = await kit.customer(s, 3, email=False)  # post only
        c4 = await kit.customer(s, 4)
        c5 = await kit.customer(s, 5)
        c6 = await kit.customer(s, 6)
        v1 = await kit.vehicle(s, 1, c1, shaken_expiry_on=D(2026, 6, 30))
        v2 = await kit.vehicle(s, 2, c1, shaken_expiry_on=D(2026, 5, 15), status="sold")
        await kit.vehicle(s, 3, c2, shaken_expiry_on=D(2026, 8, 31))
        v4 = await kit.vehicle(
            s, 4, c3, shaken_expiry_on=D(2026, 9, 15), owner_kind="lease", owner_name="リース会社"
        )
        await kit.vehicle(s, 5, c4, shaken_expiry_on=D(2026, 12, 23))
        await kit.vehicle(
            s, 6, c4, first_registered_on=D(2025, 9, 10), shaken_expiry_on=D(2028, 9, 10)
        )
        v7 = await kit.vehicle(s, 7, c5, shaken_expiry_on=D(2026, 10, 30))
        await kit.policy(s, 1, kind="nini", customer_id=c4, expires_on=D(2026, 4, 1))
        await kit.policy(s, 2, kind="nini", customer_id=c4, expires_on=D(2026, 6, 10))
        await kit.policy(s, 3, kind="nini", customer_id=c4, expires_on=D(2027, 6, 10))  # renewal
        await kit.policy(
            s, 4, kind="jibaiseki", customer_id=c3, vehicle_id=v4, expires_on=D(2026, 9, 14)
        )
        await kit.policy(
            s, 5, kind="jibaiseki", customer_id=c1, vehicle_id=v2, expires_on=D(2026, 5, 20)
        )
    names = {c1: "C1", c2: "C2", c3: "C3", c4: "C4", c5: "C5", c6: "C6"}
    prepared = daily.setup(app.settings.config_dir, app.settings.templates_dir)
    outage = {D(2026, 7, d) for d in range(13, 18)}  # five days down: Mon 7/13 – Fri 7/17
    got: list[tuple[dt.date, str, str, str, str]] = []
    seen = 0
    day = D(2026, 1, 1)
    while day <= D(2026, 12, 31):
        if day == D(2026, 5, 10):  # V1's shaken done early: a new expiry, a new cycle
            async with app.sessions() as s, s.begin():
                await kit.set_vehicle(s, v1, shaken_expiry_on=D(2028, 6, 30))
        if day == D(2026, 8, 1):  # V7 changes hands: the new user's cycle starts
            async with app.sessions() as s, s.begin():
                await kit.set_vehicle(s, v7, user_id=c6)
        if day not in outage:
            clock.at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=JST)
            await daily.run(app, day, prepared=prepared)
            async with app.sessions() as s:
                rows = (
                    await s.execute(
                        select(OutboxMessage).where(OutboxMessage.id > seen).order_by("id")
                    )
                ).scalars()
                for r in rows:
                    seen = max(seen, r.id)
                    got.append((day, r.kind, r.stage or "", r.channel, names[r.customer_id]))
        day += dt.timedelta(days=1)

    # shaken stage 3 is a call from the store (config/reminders.toml: channels)
    assert got == [
        (D(2026, 2, 2), "nini", "1", "email", "C4"),  # 2/1 is a Sunday
        (D(2026, 3, 18), "nini", "2", "email", "C4"),
        (D(2026, 3, 30), "shaken", "1", "email", "C1"),
        (D(2026, 4, 30), "shaken", "2", "email", "C1"),  # then renewed: no stage 3
        (D(2026, 6, 15), "shaken", "1", "post", "C3"),  # the lease user, never the owner
        (D(2026, 7, 18), "shaken", "2", "post", "C3"),  # 7/15 missed in the outage: caught up
        (D(2026, 7, 30), "shaken", "1", "email", "C5"),
        (D(2026, 8, 10), "inspection", "1", "email", "C4"),  # 12-month, 1 year after reg.
        (D(2026, 8, 14), "jibaiseki", "1", "post", "C3"),
        (D(2026, 8, 17), "shaken", "3", "phone", "C3"),  # 8/15 is a Saturday
        (D(2026, 8, 31), "shaken", "2", "email", "C6"),  # new user; 8/30 is a Sunday
        (D(2026, 9, 24), "shaken", "1", "email", "C4"),  # 9/23 秋分の日
        (D(2026, 9, 30), "shaken", "3", "phone", "C6"),
        (D(2026, 10, 23), "shaken", "2", "email", "C4"),
        (D(2026, 11, 24), "shaken", "3", "phone", "C4"),  # 11/23 勤労感謝の日
    ]
    async with app.sessions() as s:
        denied = await kit.denied(s)
        flags = (await s.execute(select(Flag))).scalars().all()
        c2_row = await s.get(Customer, c2)
    # The suspended customer was asked for on every stage and every channel, always denied.
    assert c2_row is not None
    # (a call decided at 09:00 is deferred to phone hours, decided again and queued: not denied)
    denied = [(cid, r) for cid, r in denied if r != "OUTSIDE_SEND_WINDOW"]
    assert {cid for cid, _ in denied} == {c2}
    assert all("USE_SUSPENDED" in reasons for _, reasons in denied)
    # R32: V4's 自賠責 ends at noon on 9/14, before its 車検 (9/15) — flagged once.
    assert [(f.kind, f.vehicle_id) for f in flags] == [("jibaiseki_gap", v4)]
