"""An in-memory gate shipped with the package, for tests, benchmarks and the staff test send.

It holds customer states in a dict instead of loading them from the database, and decides
through the real rules (`rules.decide`); permits come from the real `decision.permit_for`. So
code under test gets a Permit only where the real gate would have given one, and the fake and
the real gate cannot drift apart. `record` numbers the decisions instead of storing them.

`sample_state` is the synthetic customer of previews and test sends: active, reachable on every
channel, with a recorded opt-in for email (R15) and the current policy notice.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from outreach.gate import rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Permit, Request, permit_for
from outreach.gate.state import CustomerState

SAMPLE_CUSTOMER_ID = 0
SAMPLE_EMAIL = "hanako.takahashi@example.jp"


class _Asked(Protocol):
    @property
    def customer_id(self) -> int: ...


def sample_state(
    ctx: GateContext, customer_id: int = SAMPLE_CUSTOMER_ID, **kw: Any
) -> CustomerState:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "notice_version": ctx.registry.version,
        "email": SAMPLE_EMAIL,
        "email_basis": "opt_in",
        "has_postal": True,
        "has_phone": True,
    }
    values.update(kw)
    return CustomerState(**values)


class FakeGate:
    """`pipeline.Gate` without a database: the states you give it, the real rules."""

    def __init__(self, ctx: GateContext, states: Iterable[CustomerState] = ()) -> None:
        self.ctx = ctx
        self.states: dict[int, CustomerState] = {s.customer_id: s for s in states}
        self._ids = itertools.count(1)
        self.recorded: list[Decision] = []

    def state(self, customer_id: int) -> CustomerState:
        found = self.states.get(customer_id)
        if found is None:
            found = self.states[customer_id] = sample_state(self.ctx, customer_id)
        return found

    def decide_one(self, customer_id: int, request: Request, now: dt.datetime) -> Decision:
        return rules.decide(self.ctx, self.state(customer_id), request, now)

    def permit(
        self, customer_id: int, request: Request, now: dt.datetime, decision_id: int | None = None
    ) -> Permit:
        """The permit the rules give this customer for `request` now, or GateRefused."""
        return permit_for(self.decide_one(customer_id, request, now), decision_id)

    async def decide(
        self, session: Any, asks: Sequence[tuple[_Asked, Request]], now: dt.datetime
    ) -> list[Decision]:
        return [self.decide_one(m.customer_id, req, now) for m, req in asks]

    async def record(self, session: Any, decisions: Sequence[Decision]) -> list[int]:
        self.recorded.extend(decisions)
        return [next(self._ids) for _ in decisions]


def sample_permit(ctx: GateContext, request: Request, now: dt.datetime) -> Permit:
    """The permit for a preview or test send rendered from synthetic sample data."""
    return FakeGate(ctx).permit(SAMPLE_CUSTOMER_ID, request, now)
