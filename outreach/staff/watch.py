"""Watching: a campaign's progress and results, and the dashboard (daily runs, queue depth,
failures, opt-out trend). Reads aggregate counts only, no personal data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import ConsentEvent, GateDecision, OutboxMessage, Run, SendAttempt
from outreach.gate import reasons
from outreach.staff import campaigns

OPTOUT_SOURCES = ("link", "one_click", "preference_page", "mailto")
TIMELINE_BUCKETS = 24
OUTBOX_STATUSES = ("queued", "paused", "sending", "sent", "failed", "suppressed", "cancelled")


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """People the gate turned away under one reason code."""

    code: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """Messages sent in one step of the timeline (JST label)."""

    at: str
    sent: int


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """A campaign's outbox rows by status."""

    queued: int = 0
    paused: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class Waiting:
    """The queued rows by why they wait."""

    ready: int = 0
    scheduled: int = 0
    retry: int = 0


@dataclass(frozen=True, slots=True)
class CampaignResults:
    """A campaign's results now, from the send log (`campaign_results`)."""

    campaign_id: int
    status: str
    status_label: str
    outbox: OutboxCounts
    waiting: Waiting
    bounced: int
    denied: tuple[ReasonCount, ...]
    deferred: int
    optouts: int
    optouts_by_scope: dict[str, int]
    timeline: tuple[TimelinePoint, ...]
    timeline_step: str
    as_of: str  # ISO 8601


@dataclass(frozen=True, slots=True)
class WorkerState:
    """Whether a worker is sending (`worker_state`)."""

    running: bool
    last_attempt_at: dt.datetime | None
    sending: int


@dataclass(frozen=True, slots=True)
class DashboardRun:
    """One daily run on the dashboard; `summary` is the run's stored summary (free-form
    JSON) without its nested tables."""

    id: int
    run_date: str | None
    status: str
    started_at: str
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queued: int = 0
    sending: int = 0
    paused: int = 0


@dataclass(frozen=True, slots=True)
class TrendDay:
    day: str  # "M/D", JST
    optouts: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard (`dashboard`): latest daily runs, queue depth, failures in 24 h and the
    opt-out trend."""

    runs: tuple[DashboardRun, ...]
    queue: QueueDepth
    failures_24h: int
    optout_trend: tuple[TrendDay, ...]


def reason_label(code: str) -> str:
    try:
        return reasons.get(code).ja
    except Exception:
        return code


async def campaign_results(
    session: AsyncSession, campaign_id: int, *, now: dt.datetime | None = None
) -> CampaignResults:
    """A campaign's results now, from the send log: the outbox rows by status, the waiting
    ones by why they wait, the permanent failures (bounces), the people the gate turned away
    (each once, under the first reason of their latest decision: a deferred customer who was
    queued for the window's opening is not counted), and the opt-outs since."""
    c = await campaigns.get(session, campaign_id)
    now = now or dt.datetime.now(dt.UTC)
    mine = OutboxMessage.campaign_id == c.id
    by_status = dict(
        (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(mine)
                .group_by(OutboxMessage.status)
            )
        ).all()
    )
    later = OutboxMessage.not_before > now
    retried = OutboxMessage.attempts > 0
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((retried, 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(~retried, later), 1), else_=0)), 0),
                func.count(),
            ).where(mine, OutboxMessage.status == "queued")
        )
    ).one()
    waiting: Counter[str] = Counter()
    waiting["retry"], waiting["scheduled"] = int(row[0]), int(row[1])
    waiting["ready"] = int(row[2]) - waiting["retry"] - waiting["scheduled"]
    latest = (
        select(func.max(GateDecision.id))
        .where(GateDecision.campaign_id == c.id)
        .group_by(GateDecision.customer_id, GateDecision.channel)
    )
    rows = await session.execute(
        select(GateDecision.reasons, func.count())
        .where(GateDecision.id.in_(latest), GateDecision.allowed.is_(False))
        .group_by(GateDecision.reasons)
    )
    denied: Counter[str] = Counter()
    for text, n in rows:
        codes = (text or "").split()
        denied[codes[0] if codes else "?"] += n
    ids = select(OutboxMessage.id).where(mine)
    bounced = int(
        await session.scalar(
            select(func.count(func.distinct(SendAttempt.outbox_id))).where(
                SendAttempt.outbox_id.in_(ids), SendAttempt.result == "perm_fail"
            )
        )
        or 0
    )
    start = c.created_at
    events = (
        await session.execute(
            select(ConsentEvent.evidence, ConsentEvent.scope, ConsentEvent.occurred_at).where(
                ConsentEvent.action == "opt_out",
                ConsentEvent.source.in_(OPTOUT_SOURCES),
                ConsentEvent.occurred_at >= start,
                ConsentEvent.customer_id.in_(select(OutboxMessage.customer_id).where(mine)),
            )
        )
    ).all()
    outbox_ids = set((await session.scalars(ids)).all()) if events else set()
    optouts: Counter[str] = Counter()
    for evidence, scope, _at in events:
        if (evidence or {}).get("outbox_id") in outbox_ids:
            optouts[scope] += 1
    sent_times = (
        await session.scalars(
            select(OutboxMessage.sent_at).where(mine, OutboxMessage.sent_at.is_not(None))
        )
    ).all()
    points, step = timeline_with_step([t for t in sent_times if t is not None])
    return CampaignResults(
        campaign_id=c.id,
        status=c.status,
        status_label=campaigns.STATUS_LABELS.get(c.status, c.status),
        outbox=OutboxCounts(**{k: int(n) for k, n in by_status.items() if k in OUTBOX_STATUSES}),
        waiting=Waiting(**{k: waiting.get(k, 0) for k in ("ready", "scheduled", "retry")}),
        bounced=bounced,
        denied=tuple(ReasonCount(k, reason_label(k), n) for k, n in denied.most_common()),
        deferred=waiting.get("scheduled", 0),
        optouts=sum(optouts.values()),
        optouts_by_scope=dict(optouts),
        timeline=points,
        timeline_step=step,
        as_of=now.isoformat(),
    )


WORKER_RECENT = dt.timedelta(minutes=10)


async def worker_state(session: AsyncSession, *, now: dt.datetime) -> WorkerState:
    """Whether a worker is sending: the last send attempt, and messages claimed now."""
    last = await session.scalar(select(func.max(SendAttempt.at)))
    sending = int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.lease_until > now)
        )
        or 0
    )
    running = sending > 0 or (last is not None and now - last <= WORKER_RECENT)
    return WorkerState(running=running, last_attempt_at=last, sending=sending)


def timeline(times: list[dt.datetime]) -> tuple[TimelinePoint, ...]:
    return timeline_with_step(times)[0]


def timeline_with_step(times: list[dt.datetime]) -> tuple[tuple[TimelinePoint, ...], str]:
    """Messages sent per minute (per hour for long campaigns), JST labels; and the step."""
    if not times:
        return (), "1分"
    lo, hi = min(times), max(times)
    step = dt.timedelta(minutes=1) if hi - lo <= dt.timedelta(hours=2) else dt.timedelta(hours=1)
    base = lo.astimezone(JST).replace(second=0, microsecond=0)
    if step == dt.timedelta(hours=1):
        base = base.replace(minute=0)
    counts: Counter[int] = Counter(int((t - base) // step) for t in times)
    last = max(counts)
    minute = step == dt.timedelta(minutes=1)
    points = tuple(
        TimelinePoint(at=_tick(base + i * step, minute), sent=counts.get(i, 0))
        for i in range(max(0, last - 59), last + 1)
    )
    return points, "1分" if minute else "1時間"


def _tick(t: dt.datetime, minute: bool) -> str:
    return f"{t:%H:%M}" if minute else f"{t.month}/{t.day} {t.hour}時"


async def dashboard(session: AsyncSession, *, now: dt.datetime) -> Dashboard:
    runs = (
        await session.scalars(
            select(Run).where(Run.kind == "daily").order_by(Run.started_at.desc()).limit(7)
        )
    ).all()
    queue = dict(
        (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_(("queued", "sending", "paused")))
                .group_by(OutboxMessage.status)
            )
        ).all()
    )
    since = now - dt.timedelta(days=1)
    failures = int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "failed", OutboxMessage.created_at >= since)
        )
        or 0
    )
    days = 14
    start = (now.astimezone(JST) - dt.timedelta(days=days - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    times = (
        await session.scalars(
            select(ConsentEvent.occurred_at).where(
                ConsentEvent.action.in_(("opt_out", "cessation")),
                ConsentEvent.occurred_at >= start,
            )
        )
    ).all()
    per_day: Counter[dt.date] = Counter(t.astimezone(JST).date() for t in times)
    trend = tuple(
        TrendDay(
            day=f"{(start + dt.timedelta(days=i)).month}/{(start + dt.timedelta(days=i)).day}",
            optouts=per_day.get((start + dt.timedelta(days=i)).date(), 0),
        )
        for i in range(days)
    )
    return Dashboard(
        runs=tuple(
            DashboardRun(
                id=r.id,
                run_date=r.run_date.isoformat() if r.run_date else None,
                status=r.status,
                started_at=r.started_at.isoformat(),
                summary={k: v for k, v in (r.summary or {}).items() if not isinstance(v, dict)},
            )
            for r in runs
        ),
        queue=QueueDepth(**{k: int(queue.get(k, 0)) for k in ("queued", "sending", "paused")}),
        failures_24h=failures,
        optout_trend=trend,
    )
