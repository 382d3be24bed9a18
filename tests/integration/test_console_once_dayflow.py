"""The dealer's-day forms of the console (a call's outcome, a print batch marked as sent to
print) carry a one-time form token: the same form posted twice records one outcome / one
mark, and the second answer tells the staff member it was already done. Real HTTP against
the running app, both databases.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import dailykit as kit
import httpx
import pytest
from sqlalchemy import func, insert, select
from staffkit import APPROVER, add_users, form_token, serving
from test_console_points import _login

from outreach import bootstrap, daily
from outreach.clock import JST, FixedClock
from outreach.db.models import AuditEntry, CallAttempt, OutboxMessage, Store
from outreach.letters import batches
from outreach.web.app import create_app

DAY = dt.date(2026, 4, 30)  # Thursday: shaken stage 2 for expiry 6/30
ALREADY = "この操作はすでに行われています"


@pytest.fixture
async def base(app: bootstrap.App, clock: FixedClock) -> AsyncIterator[str]:
    await add_users(app, APPROVER)
    async with app.sessions() as s, s.begin():
        store = (
            await s.execute(
                insert(Store)
                .values(code="S01", name="レクサス新宿", phone="03-1111-2222")
                .returning(Store.id)
            )
        ).scalar_one()
        for n in (1, 2):
            c = await kit.customer(s, n, email=False, post=False, store_id=store)
            await kit.vehicle(s, n, c, shaken_expiry_on=dt.date(2026, 6, 30))
        letter = await kit.customer(s, 3, email=False, phone=False, store_id=store)
        await kit.vehicle(s, 3, letter, shaken_expiry_on=dt.date(2026, 6, 30))
    clock.at = dt.datetime.combine(DAY, dt.time(8, 0), tzinfo=JST)
    summary = await daily.run(app, DAY)
    assert summary.queued == 3
    clock.at = dt.datetime.combine(DAY, dt.time(11, 0), tzinfo=JST)
    async with serving(create_app(app)) as url:
        yield url


async def _twice(
    client: httpx.AsyncClient, url: str, data: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    first = await client.post(url, data=data)
    second = await client.post(url, data=data)
    assert first.status_code == second.status_code == 303, (first.text, second.text)
    assert second.headers["location"] == first.headers["location"] + "&again=1"
    return first, second


async def test_a_call_outcome_posted_twice_is_recorded_once(app: bootstrap.App, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get("/staff/calls", params={"day": DAY.isoformat()})
        assert page.status_code == 200
        ids = [int(i) for i in re.findall(r'action="/staff/calls/(\d+)"', page.text)]
        assert len(ids) == 2
        data = {
            "csrf_token": csrf,
            "form_token": form_token(page.text),
            "day": DAY.isoformat(),
            "outcome": "reached",
            "on_date": "",
            "note": "",
        }
        first, second = await _twice(client, f"/staff/calls/{ids[0]}", data)
        assert ALREADY not in (await client.get(first.headers["location"])).text
        assert ALREADY in (await client.get(second.headers["location"])).text
        # The same token on the other call of the same page: not acted on either.
        other = await client.post(f"/staff/calls/{ids[1]}", data=data)
        assert other.status_code == 303 and "again=1" in other.headers["location"]
        # A form without the token is refused.
        bare = {k: v for k, v in data.items() if k != "form_token"}
        refused = await client.post(f"/staff/calls/{ids[1]}", data=bare)
        assert refused.status_code == 403
    async with app.sessions() as s:
        attempts = (await s.execute(select(CallAttempt.outbox_id))).scalars().all()
        queued = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.channel == "phone", OutboxMessage.status == "queued")
        )
    assert attempts == [ids[0]]
    assert queued == 1


async def test_a_batch_marked_printed_twice_is_marked_once(app: bootstrap.App, base: str) -> None:
    async with app.sessions() as s:
        [batch] = [b for b in await batches.overview(s) if b.waiting]
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get("/staff/letters")
        assert f'action="/staff/letters/{batch.name}/printed"' in page.text
        data = {"csrf_token": csrf, "form_token": form_token(page.text)}
        first, second = await _twice(client, f"/staff/letters/{batch.name}/printed", data)
        assert ALREADY not in (await client.get(first.headers["location"])).text
        assert ALREADY in (await client.get(second.headers["location"])).text
        refused = await client.post(
            f"/staff/letters/{batch.name}/printed", data={"csrf_token": csrf}
        )
        assert refused.status_code == 403
    async with app.sessions() as s:
        marks = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "letters.printed", AuditEntry.entity_id == batch.name)
        )
        printed = (
            (
                await s.execute(
                    select(OutboxMessage.printed_by).where(OutboxMessage.channel == "post")
                )
            )
            .scalars()
            .all()
        )
    assert marks == 1
    assert printed == [APPROVER.username]
