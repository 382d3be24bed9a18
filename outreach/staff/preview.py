"""A campaign's preview before approval and scheduling: audience size, how many the gate
allows, the count for each reason code (through the gate's batch path, as the real send will
decide), and three sample messages rendered for allowed customers.

Nothing is persisted except the audit rows for the sample customers whose data staff see (R11).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from outreach import labels
from outreach.db.models import Campaign
from outreach.gate import batch, purposes, reasons
from outreach.gate import rules as gate_rules
from outreach.gate import window as window_mod
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.staff import audience, audit, campaigns, validation
from outreach.staff.samples import (
    SAMPLE_POOL,
    SAMPLES,
    Kit,
    Sample,
    _samples,
    kit,
    message_data,
)
from outreach.staff.watch import ReasonCount

__all__ = [
    "SAMPLES",
    "SAMPLE_POOL",
    "ChannelCounts",
    "Kit",
    "Preview",
    "ReasonCount",
    "Sample",
    "kit",
    "message_data",
    "preview",
    "request_for",
    "send_time",
]


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """One channel's counts at the send time. `primary` counts each person once, under the
    first reason that stops them (the window reason only for the deferred), so allowed +
    the primary rows + deferred = audience; `reasons` counts every reason each person has."""

    channel: str
    audience: int
    allowed: int
    denied: int
    deferred: int
    reasons: dict[str, int]
    primary: dict[str, int] = field(default_factory=dict)

    def reason_rows(self) -> list[ReasonCount]:
        """The table staff read: one row per outcome, adding up to the audience."""
        out = [ReasonCount("ALLOWED", "送信できる", self.allowed)]
        for code, n in sorted(self.primary.items(), key=lambda kv: (-kv[1], kv[0])):
            if code == reasons.OUTSIDE_SEND_WINDOW:
                continue
            out.append(ReasonCount(code, labels.label("reason", code), n))
        if self.deferred:
            out.append(
                ReasonCount(
                    reasons.OUTSIDE_SEND_WINDOW,
                    "延期（送信時間帯外、次の時間帯に送信）",
                    self.deferred,
                )
            )
        return out

    def all_reason_rows(self) -> list[ReasonCount]:
        """Every reason with how many people it concerns (a person may have several)."""
        return [
            ReasonCount(code, labels.label("reason", code), n) for code, n in self.reasons.items()
        ]


@dataclass(frozen=True, slots=True)
class Preview:
    campaign_id: int
    version: int
    items: list[str]
    channels: list[ChannelCounts]
    samples: list[Sample]
    sample_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    at: dt.datetime | None = None  # the send time the gate decided for

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "version": self.version,
            "at": self.at.isoformat() if self.at else None,
            "items": self.items,
            "channels": [
                {
                    "channel": c.channel,
                    "audience": c.audience,
                    "allowed": c.allowed,
                    "denied": c.denied,
                    "deferred": c.deferred,
                    "rows": [dataclasses.asdict(r) for r in c.reason_rows()],
                    "reasons": [dataclasses.asdict(r) for r in c.all_reason_rows()],
                }
                for c in self.channels
            ],
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "sample_errors": self.sample_errors,
            "seconds": round(self.seconds, 3),
        }


def request_for(c: Campaign, channel: str, items: frozenset[str]) -> Request:
    # A category that is not a purpose category names the campaign's topic (e.g.
    # "store_changes"): joint-use data serves only the topics joint-use ① names.
    topic = c.category if c.category and c.category not in purposes.CATEGORIES else None
    return Request(
        purpose=c.purpose,
        channel=channel,
        items=items,
        advertising=c.advertising,
        kind="campaign",
        campaign_id=c.id,
        topic=topic,
    )


async def preview(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    rules: validation.Rules,
    *,
    now: dt.datetime,
    actor: str,
    sample_kit: Kit | None = None,
    with_samples: bool = True,
    at: dt.datetime | None = None,
) -> Preview:
    """Counts as the gate will decide at the send time `at` (default: the campaign's
    schedule if it lies ahead, else the next time the first channel's window is open), so the
    figures do not depend on the hour staff look at them."""
    started = time.perf_counter()
    s = campaigns.spec_of(c)
    items = validation.used_items(s, rules)
    where = audience.where(s.audience, needs_vehicle=audience.needs_vehicle(items))
    when = send_time(ctx, c, now, at)
    counts = []
    tallies = await _tally_channels(session, ctx, c, items, when, where)
    for channel, tally in zip(c.channels, tallies, strict=True):
        counts.append(
            ChannelCounts(
                channel=channel,
                audience=tally.total,
                allowed=tally.allowed,
                denied=tally.total - tally.allowed - tally.deferred,
                deferred=tally.deferred,
                reasons=dict(tally.reasons.most_common()),
                primary=dict(tally.primary.most_common()),
            )
        )
    samples: list[Sample] = []
    errors: list[str] = []
    if with_samples and sample_kit is not None and c.channels:
        req = request_for(c, c.channels[0], items)
        samples, errors = await _samples(session, ctx, c, s.audience, req, when, sample_kit)
        for sample in samples:
            await audit.read(
                session,
                actor=actor,
                customer_id=sample.customer_id,
                what=f"campaign {c.id} preview sample",
                now=now,
            )
    await audit.record(
        session,
        actor=actor,
        action="campaign.preview",
        entity="campaign",
        entity_id=c.id,
        now=now,
        after={
            "version": c.version,
            "counts": {ch.channel: [ch.audience, ch.allowed] for ch in counts},
        },
    )
    return Preview(
        campaign_id=c.id,
        version=c.version,
        items=sorted(items),
        channels=counts,
        samples=samples,
        sample_errors=errors,
        seconds=time.perf_counter() - started,
        at=when,
    )


def send_time(
    ctx: GateContext, c: Campaign, now: dt.datetime, at: dt.datetime | None = None
) -> dt.datetime:
    """The time the preview decides for: `at` if given, else the campaign's schedule when it
    lies ahead, else the next opening of the first channel's send window (now when open)."""
    if at is not None:
        return at
    base = c.schedule_at if c.schedule_at is not None and c.schedule_at > now else now
    w = ctx.policy.windows.get(c.channels[0]) if c.channels else None
    nxt = window_mod.next_allowed(w, frozenset(), base)
    return nxt if nxt is not None else base


@dataclass
class _Tally:
    total: int = 0
    allowed: int = 0
    deferred: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    primary: Counter[str] = field(default_factory=Counter)


async def _tally_channels(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    items: frozenset[str],
    now: dt.datetime,
    where: list[Any],
) -> list[_Tally]:
    """The gate's batch path (as `gate audit` and the real send) for every channel over one
    load of the states; each person counted once under their first reason, too."""
    requests = [request_for(c, ch, items) for ch in c.channels]
    plans = [gate_rules.plan(ctx, req) for req in requests]
    tallies = [_Tally() for _ in requests]
    decide = gate_rules.decide_planned
    window = reasons.OUTSIDE_SEND_WINDOW
    with batch.gc_paused():
        async for states in batch.iter_states(session, ctx, now, where=where, prefetch=True):
            for req, plan, tally in zip(requests, plans, tallies, strict=True):
                primary, every = tally.primary, tally.reasons
                for st in states:
                    d = decide(ctx, plan, st, req, now)
                    tally.total += 1
                    if d.allowed:
                        tally.allowed += 1
                        continue
                    if d.deferred_until is not None:
                        tally.deferred += 1
                        primary[window] += 1
                    else:
                        primary[d.reasons[0]] += 1
                    every.update(d.reasons)
    return tallies
