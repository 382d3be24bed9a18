"""The call list: phone reminders and phone campaigns to work, per store and per day, and the
outcome of each call written back in one transaction.

A phone entry is queued on the outbox like any other channel; the gate set its `not_before`
to the first time a call is allowed (phone hours, national holidays, the serving store's
closing days). So the list of day D is the queued phone entries whose `not_before` falls on
D in Asia/Tokyo: a call deferred past a closing day is on the next open day's list, with
that date, and on no other. Entries of earlier days still open are shown apart, as carried
over, never again as the day's own calls.

Outcomes:
- reached / declined: the call is done (status `called`);
- booked (date): done, the vehicle's booking is recorded (a service event), and every later
  stage of that cycle still queued on any channel is cancelled;
- call back (date): stays queued, for the first allowed time on or after that date;
- wrong number: the customer's phone is marked unreachable and their open calls cancelled;
- opt-out by phone / cessation request: into the consent ledger through the customer
  service (with its audit row and, for a cessation, the Art. 35 request), and every queued
  post or phone entry the gate now refuses is suppressed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock
from outreach.db.models import (
    CallAttempt,
    Campaign,
    Customer,
    OutboxMessage,
    ServiceEvent,
    Store,
    Vehicle,
)
from outreach.errors import NotFound
from outreach.gate import batch, window
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.render import dates
from outreach.staff import audit, customers
from outreach.staff.errors import Invalid, Problem

OUTCOMES = {
    "reached": "通話済み（ご案内済み）",
    "booked": "入庫予約をいただいた",
    "declined": "今回は不要",
    "call_back": "かけ直し",
    "wrong_number": "番号違い・不通",
    "opt_out": "電話での案内停止の申出",
    "cessation": "利用停止の申出",
}
NEEDS_DATE = {"booked", "call_back"}
KIND_LABELS = {
    "shaken": "車検",
    "inspection": "法定12ヶ月点検",
    "jibaiseki": "自賠責保険",
    "nini": "任意保険",
    "campaign": "キャンペーン",
}
SERVICES = ("shaken", "inspection")  # the kinds a booking is for
CALLED = "called"
OB = OutboxMessage


@dataclass(frozen=True)
class Attempt:
    at: dt.datetime
    outcome: str
    on_date: dt.date | None
    note: str | None
    actor: str

    @property
    def label(self) -> str:
        return OUTCOMES.get(self.outcome, self.outcome)


@dataclass(frozen=True)
class Call:
    """One line of the call list."""

    outbox_id: int
    customer_id: int
    name: str
    kana: str | None
    phone: str | None
    store: str | None
    kind: str
    stage: str | None
    campaign: str | None
    car_name: str | None
    registration_number: str | None
    due_on: dt.date | None
    call_on: dt.date  # the day it may be made (JST)
    call_from: dt.datetime
    attempts: tuple[Attempt, ...]

    @property
    def why(self) -> str:
        if self.kind == "campaign":
            return f"キャンペーン「{self.campaign or ''}」"
        label = KIND_LABELS.get(self.kind, self.kind)
        return f"{label}のご案内（第{self.stage}段階）" if self.stage else f"{label}のご案内"

    @property
    def call_on_ja(self) -> str:
        return dates.jdate(self.call_on)

    @property
    def due_on_ja(self) -> str:
        return dates.jdate(self.due_on) if self.due_on else ""


def _jst_day(column: Any, session: AsyncSession) -> Any:
    """The Asia/Tokyo date of a stored UTC timestamp, in SQL on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Tokyo", column), Date)
    return func.date(column, "+9 hours")


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = clock.jst_midnight(day)
    return start, start + dt.timedelta(days=1)


async def stores(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(select(Store.id, Store.name).order_by(Store.code))
    return [(int(i), str(n)) for i, n in rows]


def _list_query(store_id: int | None) -> Any:
    q = (
        select(
            OB.id,
            OB.customer_id,
            Customer.name_kanji,
            Customer.name_kana,
            Customer.phone,
            Store.name,
            OB.kind,
            OB.stage,
            Campaign.name,
            Vehicle.car_name,
            Vehicle.registration_number,
            OB.due_on,
            OB.not_before,
        )
        .join(Customer, Customer.id == OB.customer_id)
        .outerjoin(Store, Store.id == Customer.store_id)
        .outerjoin(Vehicle, Vehicle.id == OB.vehicle_id)
        .outerjoin(Campaign, Campaign.id == OB.campaign_id)
        .where(OB.channel == "phone", OB.status == "queued")
    )
    if store_id is not None:
        q = q.where(Customer.store_id == store_id)
    return q.order_by(OB.not_before, OB.id)


async def day_list(
    session: AsyncSession, day: dt.date, *, store_id: int | None = None
) -> list[Call]:
    """The calls that may first be made on `day` (JST), for one store or all."""
    start, end = _bounds(day)
    q = _list_query(store_id).where(OB.not_before >= start, OB.not_before < end)
    return await _calls(session, q)


async def carried_over(
    session: AsyncSession, day: dt.date, *, store_id: int | None = None
) -> list[Call]:
    """Calls of earlier days still open (not yet worked, or to be called back earlier)."""
    start, _ = _bounds(day)
    return await _calls(session, _list_query(store_id).where(OB.not_before < start))


async def _calls(session: AsyncSession, q: Any) -> list[Call]:
    rows = (await session.execute(q)).all()
    ids = [int(r[0]) for r in rows]
    tried: dict[int, list[Attempt]] = {}
    for i in range(0, len(ids), batch.IN_CHUNK):
        part = ids[i : i + batch.IN_CHUNK]
        aq = (
            select(
                CallAttempt.outbox_id,
                CallAttempt.at,
                CallAttempt.outcome,
                CallAttempt.on_date,
                CallAttempt.note,
                CallAttempt.actor,
            )
            .where(CallAttempt.outbox_id.in_(part))
            .order_by(CallAttempt.at, CallAttempt.id)
        )
        for oid, at, outcome, on_date, note, actor in await session.execute(aq):
            tried.setdefault(int(oid), []).append(Attempt(at, outcome, on_date, note, actor))
    out = []
    for r in rows:
        call_from: dt.datetime = r[12]
        out.append(
            Call(
                outbox_id=int(r[0]),
                customer_id=int(r[1]),
                name=r[2],
                kana=r[3],
                phone=r[4],
                store=r[5],
                kind=r[6],
                stage=r[7],
                campaign=r[8],
                car_name=r[9],
                registration_number=r[10],
                due_on=r[11],
                call_on=call_from.astimezone(clock.JST).date(),
                call_from=call_from,
                attempts=tuple(tried.get(int(r[0]), ())),
            )
        )
    return out


async def counts_by_day(
    session: AsyncSession, first: dt.date, last: dt.date, *, store_id: int | None = None
) -> dict[dt.date, int]:
    """Open calls per day of [first, last] (the console's day picker)."""
    start, _ = _bounds(first)
    _, end = _bounds(last)
    day = _jst_day(OB.not_before, session)
    q = (
        select(day, func.count())
        .select_from(OB)
        .join(Customer, Customer.id == OB.customer_id)
        .where(OB.channel == "phone", OB.status == "queued")
        .where(OB.not_before >= start, OB.not_before < end)
        .group_by(day)
    )
    if store_id is not None:
        q = q.where(Customer.store_id == store_id)
    out: dict[dt.date, int] = {}
    for d, n in await session.execute(q):
        key = d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
        out[key] = int(n)
    return out


# --- outcomes --------------------------------------------------------------------------------


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
) -> dict[str, Any]:
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
    effects: dict[str, Any] = {"outcome": outcome}
    row.attempts = (row.attempts or 0) + 1
    if outcome == "call_back":
        assert on_date is not None
        row.not_before = await _next_call_time(session, ctx, row.customer_id, on_date)
        effects["call_from"] = row.not_before.isoformat()
    elif outcome == "wrong_number":
        row.status, row.last_error = "cancelled", "wrong_number"
        await session.execute(
            update(Customer).where(Customer.id == row.customer_id).values(phone_unreachable_at=now)
        )
        effects["cancelled"] = await _cancel(
            session, [OB.customer_id == row.customer_id, OB.channel == "phone"], "wrong_number"
        )
    else:
        row.status, row.sent_at = CALLED, now
    if outcome == "booked":
        assert on_date is not None
        effects["cancelled"] = await _booked(session, row, on_date, attempt.id, now)
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
        effects["suppressed"] = await recheck(session, ctx, row.customer_id, now)
    await audit.record(
        session,
        actor=actor,
        action="call.outcome",
        entity="outbox",
        entity_id=row.id,
        now=now,
        after={k: v for k, v in effects.items()},
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
