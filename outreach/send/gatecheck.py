"""The send-time re-check through the gate's batch path (`gate.batch`, `gate.rules`).

One adjustment: the message being re-checked is already on the outbox, so the gate's contact
budget would count it against itself (a customer at 3 of 4 marketing contacts when the
message was queued is at 4 when it is sent). Its own outbox row is taken out of the
customer's recent contacts before deciding; every other rule sees the state as loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from outreach import outbox
from outreach.gate import batch, rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Request
from outreach.gate.state import Contact, CustomerState


class BatchGate:
    def __init__(self, ctx: GateContext) -> None:
        self.ctx = ctx

    async def decide(
        self,
        session: AsyncSession,
        asks: Sequence[tuple[outbox.Claimed, Request]],
        now: dt.datetime,
    ) -> list[Decision]:
        states = await batch.load_states(session, self.ctx, (m.customer_id for m, _ in asks), now)
        out = []
        for m, req in asks:
            state = states.get(m.customer_id) or CustomerState(m.customer_id, status="missing")
            if state.recent:
                state = _without(state, Contact(m.created_at, m.category, m.kind))
            out.append(rules.decide(self.ctx, state, req, now))
        return out

    async def record(self, session: AsyncSession, decisions: Sequence[Decision]) -> list[int]:
        return await batch.record(session, decisions)


def _without(state: CustomerState, contact: Contact) -> CustomerState:
    recent = list(state.recent)
    for i, c in enumerate(recent):
        if c.at == contact.at and c.category == contact.category and c.kind == contact.kind:
            del recent[i]
            return dataclasses.replace(state, recent=tuple(recent))
    return state
