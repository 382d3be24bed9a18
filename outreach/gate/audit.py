"""`gate audit`: the gate over a set of customers, counted by outcome and reason.

The same batch path as the daily run and campaign previews (`batch.iter_states` + `decide`),
optionally persisting every decision as they do.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Customer, Store
from outreach.errors import OutreachError
from outreach.gate import batch, rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Request

# The customer columns an audit may be narrowed by (`gate audit --filter KEY=VALUE`).
FILTERS = ("status", "acquisition", "store", "prefecture", "notice_version", "joint_use_partner")


class FilterRejected(OutreachError):
    """A filter value that names nothing (an unknown store code, a non-numeric version)."""


@dataclass
class Tally:
    total: int = 0
    allowed: int = 0
    deferred: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "allowed": self.allowed,
            "denied": self.total - self.allowed - self.deferred,
            "deferred": self.deferred,
            "reasons": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


async def audit(
    session: AsyncSession,
    ctx: GateContext,
    request: Request,
    now: dt.datetime,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    persist: bool = False,
    run_id: int | None = None,
    chunk: int = batch.CHUNK,
) -> Tally:
    """Decide `request` for every matching customer; with `persist`, record each decision
    and commit per chunk (never per row)."""
    tally = Tally()
    with batch.gc_paused():
        await _run(session, ctx, request, now, tally, where, persist, run_id, chunk)
    return tally


async def _run(
    session: AsyncSession,
    ctx: GateContext,
    request: Request,
    now: dt.datetime,
    tally: Tally,
    where: Sequence[ColumnElement[bool]],
    persist: bool,
    run_id: int | None,
    chunk: int,
) -> None:
    decide = rules.decide_planned
    plan = rules.plan(ctx, request)
    counts = tally.reasons
    async for states in batch.iter_states(
        session, ctx, now, where=where, chunk=chunk, prefetch=not persist
    ):
        decisions = [decide(ctx, plan, s, request, now) for s in states]
        tally.total += len(decisions)
        for d in decisions:
            if d.allowed:
                tally.allowed += 1
            else:
                if d.deferred_until is not None:
                    tally.deferred += 1
                counts.update(d.reasons)
        if persist:
            await batch.record(session, decisions, run_id=run_id, returning=False)
            await session.commit()


async def customer_filters(
    session: AsyncSession, filters: Sequence[tuple[str, str]]
) -> list[ColumnElement[bool]]:
    """The WHERE clauses on customers for (key, value) filters, keys among FILTERS."""
    c = Customer.__table__.c
    where: list[ColumnElement[bool]] = []
    for key, value in filters:
        if key == "store":
            sid = (await session.execute(select(Store.id).where(Store.code == value))).scalar()
            if sid is None:
                raise FilterRejected(f"--filter store={value}: no such store code")
            where.append(c.store_id == sid)
        elif key == "notice_version":
            if not value.isdigit():
                raise FilterRejected(f"--filter notice_version={value}: not a number")
            where.append(c.notice_version == int(value))
        else:
            where.append(c[key] == value)
    return where
