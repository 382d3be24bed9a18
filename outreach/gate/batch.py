"""The batch gate path: load the state of many customers in a few queries, decide, persist.

The daily run, campaign previews and `gate audit` all go through here. The state loader is
`gate.loader`, the decision recorder `gate.recorder`, the driver-level bulk reads and writes
`db.bulk`; this module decides and re-exports their names.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import gc
from collections.abc import Iterator, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from outreach.gate import rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Request
from outreach.gate.loader import (
    CHUNK,
    IN_CHUNK,
    _c,
    _state_query,
    iter_states,
    load_states,
    or_evidence,
    store_closing_days,
)
from outreach.gate.recorder import decision_rows, record
from outreach.gate.state import CustomerState

__all__ = [
    "CHUNK",
    "IN_CHUNK",
    "_c",
    "_state_query",
    "decide_for",
    "decision_rows",
    "gc_paused",
    "iter_states",
    "load_states",
    "or_evidence",
    "record",
    "serving",
    "store_closing_days",
]


_SERVING: contextvars.ContextVar[bool] = contextvars.ContextVar("outreach_serving", default=False)


def serving() -> None:
    """Mark the current context as answering web requests (the web app's middleware and its
    lifespan, whose scheduler jobs share the server's event loop): `gc_paused` is then a
    no-op, since a pause would hold for every request the loop serves meanwhile."""
    _SERVING.set(True)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector over a batch (never inside a web server).

    A chunk allocates tens of thousands of states and decisions that live until the chunk is
    done; the collector keeps promoting and rescanning them, which measured at ~45% of an
    audit's CPU. Nothing here makes reference cycles (refcounting frees every chunk), so the
    collector is paused for the duration and restored after; other tasks' cycles wait until
    then. Re-entrant: only the outermost pause turns it back on.
    """
    if _SERVING.get():
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _missing(customer_id: int) -> CustomerState:
    # An id with no customer row: decided as an inactive customer, never allowed.
    return CustomerState(customer_id, status="missing")


async def decide_for(
    session: AsyncSession,
    ctx: GateContext,
    asks: Sequence[tuple[int, Request]],
    now: dt.datetime,
) -> list[Decision]:
    """Decide every (customer id, request), loading all their states in a few queries."""
    with gc_paused():
        states = await load_states(session, ctx, (cid for cid, _ in asks), now)
        decide = rules.decide
        return [decide(ctx, states.get(cid) or _missing(cid), req, now) for cid, req in asks]
