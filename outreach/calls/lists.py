"""The call lists: the queued phone entries whose first allowed time falls on a day, per
store, with earlier attempts; the ones carried over; the counts per day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock
from outreach.db.bulk import chunks
from outreach.db.models import (
    CallAttempt,
    Campaign,
    Customer,
    OutboxMessage,
    Store,
    Vehicle,
)
from outreach.gate import batch
from outreach.render import dates

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
    for part in chunks(ids, batch.IN_CHUNK):
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
