"""The one path from "should this customer hear from us?" to a queued outbox entry.

Used by the daily reminder run and by campaign firing alike:

1. decide: ask the gate for every (customer, request) at `now`;
2. re-decide deferrals: a decision deferred to a later opening (quiet hours, a holiday, the
   store's closing day) is decided again *for that opening*, so what is queued for then is
   what the gate will allow then (the worker re-checks at send time anyway);
3. record: every decision, the first and the second, is persisted (a skip is recorded
   like a send);
4. permit and enqueue: each allowed outcome becomes a `Draft` under the gate's `Permit`
   for exactly that decision, inserted under its idempotency key (a duplicate is skipped).

The caller owns the transaction and builds the drafts (it knows the template, the keys and
the spacing); this module owns the order of the steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from outreach import outbox
from outreach.gate import batch, rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Decision, Permit, Request, permit_for
from outreach.gate.state import CustomerState

ALLOWED = "allowed"
DEFERRED = "deferred"  # allowed at a later opening; queued for then
DENIED = "denied"


@dataclass(frozen=True)
class Outcome:
    """The gate's answer for one ask, after any re-decision for a later opening."""

    first: Decision
    first_id: int | None
    second: Decision | None = None  # the decision for `first.deferred_until`, if asked
    second_id: int | None = None

    @property
    def final(self) -> Decision:
        return self.second if self.second is not None else self.first

    @property
    def status(self) -> str:
        if self.first.allowed:
            return ALLOWED
        if self.second is not None and self.second.allowed:
            return DEFERRED
        return DENIED

    @property
    def not_before(self) -> dt.datetime:
        """When the entry may go out: now, or the opening it was decided again for."""
        if self.status == DEFERRED:
            assert self.first.deferred_until is not None
            return self.first.deferred_until
        return self.first.decided_at

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.final.reasons

    def permit(self) -> Permit:
        """The permit of the allowed decision (GateRefused when nothing was allowed)."""
        if self.status == DEFERRED:
            assert self.second is not None
            return permit_for(self.second, self.second_id)
        return permit_for(self.first, self.first_id)


async def decide(
    session: AsyncSession,
    ctx: GateContext,
    asks: Sequence[tuple[int, Request]],
    now: dt.datetime,
    *,
    states: Mapping[int, CustomerState] | None = None,
    run_id: int | None = None,
    campaign_id: int | None = None,
    subject_keys: Sequence[str | None] | None = None,
    record: bool = True,
) -> list[Outcome]:
    """Steps 1–3 for a batch of asks, in the caller's transaction; one outcome per ask.

    `states` (already loaded, e.g. by a campaign's audience stream) avoids loading them
    again; without it they are loaded in a few queries. `record=False` (a dry run) decides
    without writing anything, and the outcomes carry no decision ids.
    """
    if not asks:
        return []

    async def at(idx: Sequence[int], when: dt.datetime) -> list[Decision]:
        if states is not None:
            return [rules.decide(ctx, states[asks[i][0]], asks[i][1], when) for i in idx]
        return await batch.decide_for(session, ctx, [asks[i] for i in idx], when)

    everyone = list(range(len(asks)))
    firsts = await at(everyone, now)
    by_time: dict[dt.datetime, list[int]] = {}
    for i, d in enumerate(firsts):
        if d.deferred and d.deferred_until is not None and d.deferred_until > now:
            by_time.setdefault(d.deferred_until, []).append(i)
    seconds: dict[int, Decision] = {}
    for until, idx in sorted(by_time.items()):  # one batch per opening time
        seconds.update(zip(idx, await at(idx, until), strict=True))
    later = sorted(seconds)
    first_ids: list[int | None] = [None] * len(asks)
    second_ids: dict[int, int | None] = dict.fromkeys(later)
    if record:
        keys = list(subject_keys) if subject_keys is not None else [None] * len(asks)
        ids = await batch.record(
            session,
            [*firsts, *(seconds[i] for i in later)],
            run_id=run_id,
            campaign_id=campaign_id,
            subject_keys=[*keys, *(keys[i] for i in later)],
        )
        first_ids = list(ids[: len(asks)])
        second_ids = dict(zip(later, ids[len(asks) :], strict=True))
    return [
        Outcome(
            first=d,
            first_id=first_ids[i],
            second=seconds.get(i),
            second_id=second_ids.get(i),
        )
        for i, d in enumerate(firsts)
    ]


async def enqueue(
    session: AsyncSession,
    items: Sequence[tuple[outbox.Draft, Outcome]],
    *,
    now: dt.datetime,
) -> int:
    """Step 4: queue each draft under the permit of its outcome; how many were new."""
    return await outbox.enqueue(session, [(d, o.permit()) for d, o in items], now=now)
