"""The selection SQL of a daily run: the due vehicles and policies, by indexed date-range
selects, streamed, turned into candidates by the pure rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock
from outreach.candidates import inspection, insurance, ranges, rules, shaken
from outreach.candidates.facts import Candidate, PolicyFacts, VehicleFacts, Window
from outreach.db.bulk import chunks
from outreach.db.models import InsurancePolicy, Vehicle

STREAM_BATCH = 5000
IN_CHUNK = 900  # ids per IN (…) list: under SQLite's and asyncpg's parameter limits


def _in_ranges(column: Any, rs: Iterable[ranges.Range]) -> Any:
    return or_(false(), *[column.between(lo, hi) for lo, hi in rs])


V = Vehicle.__table__
P = InsurancePolicy.__table__
_VEHICLE_COLUMNS = (
    V.c.id,
    V.c.user_id,
    V.c.status,
    V.c.first_registered_on,
    V.c.shaken_expiry_on,
    V.c.last_inspection_on,
    V.c.booked_on,
    V.c.owner_kind,
)


async def _vehicles(session: AsyncSession, where: Any) -> dict[int, VehicleFacts]:
    out: dict[int, VehicleFacts] = {}
    stmt = select(*_VEHICLE_COLUMNS).where(where, V.c.status == "owned")
    result = await session.stream(stmt.execution_options(yield_per=STREAM_BATCH))
    async for part in result.partitions():
        for r in part:
            out[r[0]] = VehicleFacts(*r)
    return out


_POLICY_COLUMNS = (
    P.c.id,
    P.c.kind,
    P.c.customer_id,
    P.c.expires_on,
    P.c.insurer,
    P.c.vehicle_id,
    V.c.user_id,
    V.c.status,
    P.c.starts_at,
)


def _policy(r: Any) -> PolicyFacts:
    starts = r[8].astimezone(clock.JST).date() if r[8] is not None else None
    return PolicyFacts(
        id=r[0],
        kind=r[1],
        customer_id=r[2],
        expires_on=r[3],
        insurer=r[4],
        vehicle_id=r[5],
        vehicle_user_id=r[6],
        vehicle_status=r[7],
        starts_on=starts,
    )


def _policy_select() -> Any:
    return select(*_POLICY_COLUMNS).select_from(P.outerjoin(V, V.c.id == P.c.vehicle_id))


async def _policies(session: AsyncSession, kind: str, where: Any) -> list[PolicyFacts]:
    out: list[PolicyFacts] = []
    stmt = _policy_select().where(P.c.kind == kind, where)
    result = await session.stream(stmt.execution_options(yield_per=STREAM_BATCH))
    async for part in result.partitions():
        out += [_policy(r) for r in part]
    return out


async def _renewed(session: AsyncSession, policies: Sequence[PolicyFacts]) -> set[int]:
    """Ids of the policies that a later policy renews (loaded in a few IN queries)."""
    vids = sorted({p.vehicle_id for p in policies if p.vehicle_id is not None})
    cids = sorted({p.customer_id for p in policies if p.vehicle_id is None and p.customer_id})
    others: list[PolicyFacts] = []
    for column, ids in ((P.c.vehicle_id, vids), (P.c.customer_id, cids)):
        for part in chunks(ids, IN_CHUNK):
            stmt = _policy_select().where(column.in_(part))
            others += [_policy(r) for r in await session.execute(stmt)]
    by_vehicle: dict[int, list[PolicyFacts]] = {}
    by_customer: dict[int | None, list[PolicyFacts]] = {}
    for o in others:
        if o.vehicle_id is not None:
            by_vehicle.setdefault(o.vehicle_id, []).append(o)
        else:
            by_customer.setdefault(o.customer_id, []).append(o)
    out = set()
    for p in policies:
        pool = (
            by_vehicle.get(p.vehicle_id, [])
            if p.vehicle_id is not None
            else by_customer.get(p.customer_id, [])
        )
        if insurance.renewed_by(p, pool):
            out.add(p.id)
    return out


async def collect(
    session: AsyncSession, r: rules.Rules, window: Window
) -> tuple[list[Candidate], list[VehicleFacts]]:
    """Every candidate in the window, and the vehicles whose 自賠責 cover must be checked."""
    found: list[Candidate] = []
    gaps: list[VehicleFacts] = []
    if (rule := r.kinds.get("shaken")) is not None:
        rs = ranges.due_ranges(
            rule, window, booking_window_months=r.booking_window_months, calendar=r.calendar
        )
        for v in (await _vehicles(session, _in_ranges(V.c.shaken_expiry_on, rs))).values():
            if (c := shaken.candidate(v, r, window)) is not None:
                found.append(c)
                gaps.append(v)
    if (rule := r.kinds.get("inspection")) is not None:
        rs = ranges.shift(
            ranges.due_ranges(rule, window, booking_window_months=None, calendar=r.calendar), -12
        )
        vs = await _vehicles(
            session,
            or_(_in_ranges(V.c.last_inspection_on, rs), _in_ranges(V.c.first_registered_on, rs)),
        )
        found += [c for v in vs.values() if (c := inspection.candidate(v, r, window))]
    for kind in ("jibaiseki", "nini"):
        if (rule := r.kinds.get(kind)) is None:
            continue
        rs = ranges.due_ranges(rule, window, booking_window_months=None, calendar=r.calendar)
        due: list[tuple[PolicyFacts, Candidate]] = []
        for p in await _policies(session, kind, _in_ranges(P.c.expires_on, rs)):
            if (c := insurance.candidate(p, r, window)) is not None:
                due.append((p, c))
        renewed = await _renewed(session, [p for p, _ in due])
        found += [c for p, c in due if p.id not in renewed]
    found.sort(key=lambda c: (c.customer_id, c.kind, c.subject))
    return found, gaps
