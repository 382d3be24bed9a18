"""Firing a scheduled campaign: the audience through the gate's batch path, every decision
recorded, each allowed message queued on the outbox under its permit, spaced at the
campaign's rate (the worker sends nothing before a message's `not_before`).

Idempotent: the outbox key is (campaign, approved version, customer, channel), so a second
firing of the same version (a misfire, a second scheduler) queues nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from outreach import bootstrap, enqueue, logs, outbox
from outreach.db.bulk import chunks
from outreach.db.models import Campaign, OutboxMessage, Run, Vehicle
from outreach.gate import batch
from outreach.gate.context import GateContext
from outreach.staff import audience, audit, campaigns, preview, recurrence, validation
from outreach.staff import rules as rules_mod

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "scheduler"
COUNTS = ("audience", "allowed", "deferred_queued", "denied", "deferred", "queued")


@dataclass(frozen=True, slots=True)
class FireResult:
    """One firing of a scheduled campaign: skipped (`skipped` says why: "not due", or the
    status that is not the approved, scheduled version), or the run's counts and the gate's
    reasons with how many decisions each."""

    campaign_id: int
    skipped: str | None = None
    run_id: int | None = None
    audience: int = 0
    allowed: int = 0
    deferred_queued: int = 0
    denied: int = 0
    deferred: int = 0
    queued: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As the run's summary and `campaign run-due --json` print it."""
        if self.skipped is not None:
            return {"campaign_id": self.campaign_id, "skipped": self.skipped}
        return {
            "campaign_id": self.campaign_id,
            "run_id": self.run_id,
            **{k: getattr(self, k) for k in COUNTS},
            "reasons": dict(self.reasons),
        }


def template_name(c: Campaign) -> str:
    """The outbox `template` of a campaign message: its row and the approved version."""
    return f"campaign:{c.id}:v{c.approved_version}"


def idempotency_key(c: Campaign, customer_id: int, channel: str) -> str:
    """Unique per (campaign, approved version, customer, channel) (R27)."""
    return f"campaign:{c.id}:v{c.approved_version}:{customer_id}:{channel}"


async def fire(
    sessions: async_sessionmaker[AsyncSession],
    ctx: GateContext,
    campaign_id: int,
    rules_: validation.Rules,
    *,
    now: dt.datetime,
    chunk: int = batch.CHUNK,
) -> FireResult:
    """Run one scheduled campaign whose time has come; returns the run's summary."""
    async with sessions() as s, s.begin():
        c = await campaigns.get(s, campaign_id, for_update=True)
        if c.status != campaigns.SCHEDULED or c.approved_version != c.version:
            return FireResult(campaign_id, skipped=f"status {c.status}")
        if c.schedule_at is not None and c.schedule_at > now:
            return FireResult(campaign_id, skipped="not due")
        before = campaigns.snapshot(c)
        prefix = f"campaign:{c.id}:v{c.approved_version}"
        if c.recurrence:
            # One occurrence per fire: its own outbox keys; the campaign stays scheduled for
            # the next one until it is paused or cancelled.
            this = c.schedule_at or now
            prefix += f":{recurrence.occurrence(this)}"
            c.schedule_at = recurrence.next_after(c.recurrence, max(this, now))
            c.status = campaigns.SCHEDULED if c.schedule_at else campaigns.RUNNING
        else:
            c.status = campaigns.RUNNING
        c.updated_at = now
        run = Run(kind="campaign", campaign_id=c.id, status="running", started_at=now)
        s.add(run)
        await s.flush()
        run_id = run.id
        await audit.record(
            s,
            actor=SYSTEM_ACTOR,
            action="campaign.start",
            entity="campaign",
            entity_id=c.id,
            now=now,
            before=before,
            after=campaigns.snapshot(c),
            reason=f"run {run_id}",
        )
        spec = campaigns.spec_of(c)
        items = validation.used_items(spec, rules_)
        conditions = spec.audience
        needs_vehicle = audience.needs_vehicle(items)
        channels = list(c.channels)
        rate = c.rate_per_second
        category, purpose, advertising = c.category, c.purpose, c.advertising
        tname = template_name(c)

    totals: Counter[str] = Counter()
    reason_counts: Counter[str] = Counter()
    slot = 0
    for channel in channels:
        request = preview.request_for(c, channel, items)
        async with sessions() as s:
            async for states in batch.iter_states(
                s,
                ctx,
                now,
                where=audience.where(conditions, needs_vehicle=needs_vehicle),
                chunk=chunk,
            ):
                outcomes = await enqueue.decide(
                    s,
                    ctx,
                    [(st.customer_id, request) for st in states],
                    now,
                    states={st.customer_id: st for st in states},
                    run_id=run_id,
                    campaign_id=campaign_id,
                )
                vehicles = (
                    await _vehicles(s, [st.customer_id for st in states], conditions)
                    if needs_vehicle
                    else {}
                )
                drafts = []
                for o in outcomes:
                    totals["audience"] += 1
                    if o.status == enqueue.DENIED:
                        totals["deferred" if o.final.deferred else "denied"] += 1
                        reason_counts.update(o.reasons)
                        continue
                    totals["allowed" if o.status == enqueue.ALLOWED else "deferred_queued"] += 1
                    not_before = o.not_before + dt.timedelta(seconds=slot / rate)
                    slot += 1
                    cid = o.first.customer_id
                    drafts.append(
                        (
                            outbox.Draft(
                                idempotency_key=f"{prefix}:{cid}:{channel}",
                                customer_id=cid,
                                purpose=purpose,
                                category=category,
                                channel=channel,
                                kind="campaign",
                                template=tname,
                                items=items,
                                advertising=advertising,
                                not_before=not_before,
                                vehicle_id=vehicles.get(cid),
                                campaign_id=campaign_id,
                                run_id=run_id,
                            ),
                            o,
                        )
                    )
                totals["queued"] += await enqueue.enqueue(s, drafts, now=now)
                await s.commit()

    summary = FireResult(
        campaign_id,
        run_id=run_id,
        audience=totals["audience"],
        allowed=totals["allowed"],
        deferred_queued=totals["deferred_queued"],
        denied=totals["denied"],
        deferred=totals["deferred"],
        queued=totals["queued"],
        reasons=dict(reason_counts.most_common()),
    )
    async with sessions() as s, s.begin():
        run_row = await s.get(Run, run_id)
        assert run_row is not None
        run_row.status = "done"
        run_row.finished_at = now
        run_row.summary = summary.to_json()
    return summary


async def _vehicles(
    session: AsyncSession, customer_ids: list[int], conditions: list[Any]
) -> dict[int, int]:
    """For each customer, the (first) vehicle of theirs the audience filter matched."""
    out: dict[int, int] = {}
    for part in chunks(customer_ids, batch.IN_CHUNK):
        rows = await session.execute(
            select(Vehicle.user_id, func.min(Vehicle.id))
            .where(Vehicle.user_id.in_(part), audience.vehicle_where(conditions))
            .group_by(Vehicle.user_id)
        )
        out.update({uid: vid for uid, vid in rows if uid is not None})
    return out


async def due(session: AsyncSession, now: dt.datetime) -> list[int]:
    q = select(Campaign.id).where(
        Campaign.status == campaigns.SCHEDULED,
        Campaign.schedule_at <= now,
    )
    return list((await session.scalars(q.order_by(Campaign.schedule_at))).all())


async def fire_due(
    sessions: async_sessionmaker[AsyncSession],
    ctx: GateContext,
    rules_: validation.Rules,
    *,
    now: dt.datetime,
) -> list[FireResult]:
    """The scheduled job: fire every campaign whose time has come, then mark finished ones."""
    async with sessions() as s:
        ids = await due(s, now)
    out = [await fire(sessions, ctx, cid, rules_, now=now) for cid in ids]
    async with sessions() as s, s.begin():
        await finish_done(s, now=now)
    return out


async def finish_done(session: AsyncSession, *, now: dt.datetime) -> list[int]:
    """Running campaigns with nothing left queued or sending become done."""
    pending = (
        select(OutboxMessage.campaign_id)
        .where(OutboxMessage.status.in_(("queued", "sending", "paused")))
        .where(OutboxMessage.campaign_id.is_not(None))
        .distinct()
    )
    q = select(Campaign).where(Campaign.status == campaigns.RUNNING, Campaign.id.not_in(pending))
    finished = list((await session.scalars(q)).all())
    for c in finished:
        before = campaigns.snapshot(c)
        c.status = campaigns.DONE
        c.updated_at = now
        await audit.record(
            session,
            actor=SYSTEM_ACTOR,
            action="campaign.done",
            entity="campaign",
            entity_id=c.id,
            now=now,
            before=before,
            after=campaigns.snapshot(c),
        )
    return [c.id for c in finished]


async def run_due(app: bootstrap.App) -> list[FireResult]:
    """Fire the due campaigns with the configured registry and gate policy."""
    ctx = app.policy.gate
    rules_ = rules_mod.RegistryRules(app.policy.registry)
    return await fire_due(app.sessions, ctx, rules_, now=app.clock.now())


async def scheduled() -> list[FireResult]:
    """Entry point of jobs/campaigns.toml: fire every scheduled campaign whose time has come."""
    app = bootstrap.build()
    try:
        fired = await run_due(app)
        for summary in fired:
            log.info(
                "campaign.fired",
                extra=logs.ids(
                    "campaign.fired",
                    campaign_id=summary.campaign_id,
                    run_id=summary.run_id,
                    count=None if summary.skipped is not None else summary.queued,
                ),
            )
        return fired
    finally:
        await app.close()
