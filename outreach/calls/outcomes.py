"""A call's outcome written back in one transaction: done, booked (a service event, later
stages cancelled), call back, wrong number, opt-out or cessation by phone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock
from outreach.calls.lists import CALLED, NEEDS_DATE, OB, OUTCOMES, SERVICES
from outreach.db.models import (
    CallAttempt,
    Customer,
    OutboxMessage,
    ServiceEvent,
    Vehicle,
)
from outreach.errors import NotFound
from outreach.gate import batch, window
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.staff import audit, customers
from outreach.staff.errors import Invalid, Problem


@dataclass(frozen=True, slots=True)
class Effects:
    """What recording a call's outcome did; a field is None when the outcome has no such
    effect. `to_json()` is the audit entry's `after` (only the effects that happened)."""

    outcome: str
    call_from: str | None = None  # call_back: the next time the call may be made (ISO 8601)
    cancelled: int | None = None  # wrong_number, booked: queued entries cancelled
    suppressed: int | None = None  # opt_out, cessation: queued entries the gate now refuses

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome}
        for name in ("call_from", "cancelled", "suppressed"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


async def record(
    session: AsyncSession,
    ctx: GateContext,
    outbox_id: int,
    *,
    outcome: str,
    on_date: dt.date | None,
    note: str,
    actor: str,
    now: dt.datetime,
) -> Effects:
    """Record one call's outcome and its effects in the caller's transaction."""
    problems = []
    if outcome not in OUTCOMES:
        problems.append(Problem("outcome", "結果を選んでください"))
    today = now.astimezone(clock.JST).date()
    if outcome in NEEDS_DATE and on_date is None:
        problems.append(Problem("on_date", "日付を入力してください"))
    if outcome == "call_back" and on_date is not None and on_date <= today:
        problems.append(Problem("on_date", "かけ直す日は明日以降の日付を入力してください"))
    if len(note) > 400 or any(ord(ch) < 32 and ch not in "\n\t" for ch in note):
        problems.append(Problem("note", "メモは400文字以内で入力してください"))
    if problems:
        raise Invalid(problems)
    row = (
        await session.execute(select(OB).where(OB.id == outbox_id).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.channel != "phone":
        raise NotFound(f"電話リストの項目 {outbox_id} は見つかりません")
    if row.status != "queued":
        raise Invalid([Problem("outcome", "この電話の結果はすでに記録されています")])
    attempt = CallAttempt(
        outbox_id=row.id,
        customer_id=row.customer_id,
        outcome=outcome,
        on_date=on_date if outcome in NEEDS_DATE else None,
        note=note or None,
        actor=actor,
        at=now,
    )
    session.add(attempt)
    await session.flush()
    call_from: str | None = None
    cancelled: int | None = None
    suppressed: int | None = None
    row.attempts = (row.attempts or 0) + 1
    if outcome == "call_back":
        assert on_date is not None
        row.not_before = await _next_call_time(session, ctx, row.customer_id, on_date)
        call_from = row.not_before.isoformat()
    elif outcome == "wrong_number":
        row.status, row.last_error = "cancelled", "wrong_number"
        await session.execute(
            update(Customer).where(Customer.id == row.customer_id).values(phone_unreachable_at=now)
        )
        cancelled = await _cancel(
            session, [OB.customer_id == row.customer_id, OB.channel == "phone"], "wrong_number"
        )
    else:
        row.status, row.sent_at = CALLED, now
    if outcome == "booked":
        assert on_date is not None
        cancelled = await _booked(session, row, on_date, attempt.id, now)
    if outcome in ("opt_out", "cessation"):
        await customers.take_request(
            session,
            row.customer_id,
            kind=outcome,
            scope="channel:phone" if outcome == "opt_out" else "all",
            source="phone",
            actor=actor,
            now=now,
            note=note,
        )
        suppressed = await recheck(session, ctx, row.customer_id, now)
    effects = Effects(outcome, call_from, cancelled, suppressed)
    await audit.record(
        session,
        actor=actor,
        action="call.outcome",
        entity="outbox",
        entity_id=row.id,
        now=now,
        after=effects.to_json(),
        reason=None,
    )
    return effects


async def _next_call_time(
    session: AsyncSession, ctx: GateContext, customer_id: int, day: dt.date
) -> dt.datetime:
    closing = await batch.store_closing_days(session)
    store = (
        await session.execute(select(Customer.store_id).where(Customer.id == customer_id))
    ).scalar()
    when = window.next_allowed(
        ctx.policy.windows.get("phone"),
        closing.get(int(store), frozenset()) if store is not None else frozenset(),
        clock.jst_midnight(day),
    )
    if when is None:
        raise Invalid(
            [Problem("on_date", "この日以降に電話できる日がありません（店舗の営業日設定）")]
        )
    return when


async def _cancel(session: AsyncSession, where: Sequence[Any], why: str) -> int:
    res = await session.execute(
        update(OB)
        .where(OB.status == "queued", *where)
        .values(status="cancelled", last_error=why)
        .returning(OB.id)
    )
    return len(res.all())


async def _booked(
    session: AsyncSession, row: OutboxMessage, on_date: dt.date, attempt_id: int, now: dt.datetime
) -> int:
    """A booking ends the cycle: the vehicle's booked date, a service event, and every later
    stage of the same cycle still queued (any channel) cancelled."""
    if row.vehicle_id is None:
        return 0
    service = row.kind if row.kind in SERVICES else "shaken"
    await session.execute(
        update(Vehicle).where(Vehicle.id == row.vehicle_id).values(booked_on=on_date)
    )
    session.add(
        ServiceEvent(
            external_id=f"call:{attempt_id}",
            kind="booking",
            service=service,
            vehicle_id=row.vehicle_id,
            on_date=on_date,
            updated_at=now,
        )
    )
    where = [OB.vehicle_id == row.vehicle_id, OB.kind == row.kind]
    if row.due_on is not None:
        where.append(OB.due_on == row.due_on)
    return await _cancel(session, where, "booked")


def request_of(m: OutboxMessage) -> Request:
    return Request(
        purpose=m.purpose,
        channel=m.channel,
        items=frozenset(m.items or ()),
        advertising=m.advertising,
        kind=m.kind,
        campaign_id=m.campaign_id,
    )


async def recheck(
    session: AsyncSession, ctx: GateContext, customer_id: int, now: dt.datetime
) -> int:
    """Ask the gate again for the customer's queued post and phone entries (no worker sends
    those) and suppress each it now refuses; how many."""
    rows = list(
        (
            await session.scalars(
                select(OB).where(
                    OB.customer_id == customer_id,
                    OB.status == "queued",
                    OB.channel.in_(("post", "phone")),
                )
            )
        ).all()
    )
    if not rows:
        return 0
    decided = await batch.decide_for(
        session, ctx, [(customer_id, request_of(m)) for m in rows], now
    )
    n = 0
    for m, d in zip(rows, decided, strict=True):
        if not d.allowed and not d.deferred:
            m.status, m.last_error = "suppressed", " ".join(d.reasons)[:400]
            n += 1
    return n
