"""Watching: a campaign's progress and results, and the dashboard (daily runs, queue depth,
failures, opt-out trend). Reads aggregate counts only, no personal data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import ConsentEvent, GateDecision, OutboxMessage, Run
from outreach.gate import reasons
from outreach.staff import campaigns

OPTOUT_SOURCES = ("link", "one_click", "preference_page", "mailto")
TIMELINE_BUCKETS = 24


def reason_label(code: str) -> str:
    try:
        return reasons.get(code).ja
    except Exception:
        return code


async def campaign_results(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    c = await campaigns.get(session, campaign_id)
    by_status = dict(
        (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.campaign_id == c.id)
                .group_by(OutboxMessage.status)
            )
        ).all()
    )
    denied: Counter[str] = Counter()
    deferred = 0
    rows = await session.execute(
        select(GateDecision.reasons, GateDecision.deferred_until, func.count())
        .where(GateDecision.campaign_id == c.id, GateDecision.allowed.is_(False))
        .group_by(GateDecision.reasons, GateDecision.deferred_until)
    )
    for text, deferred_until, n in rows:
        if deferred_until is not None:
            deferred += n
        for code in (text or "").split():
            denied[code] += n
    ids = select(OutboxMessage.id).where(OutboxMessage.campaign_id == c.id)
    start = c.created_at
    events = (
        await session.execute(
            select(ConsentEvent.evidence, ConsentEvent.scope, ConsentEvent.occurred_at).where(
                ConsentEvent.action == "opt_out",
                ConsentEvent.source.in_(OPTOUT_SOURCES),
                ConsentEvent.occurred_at >= start,
                ConsentEvent.customer_id.in_(
                    select(OutboxMessage.customer_id).where(OutboxMessage.campaign_id == c.id)
                ),
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
            select(OutboxMessage.sent_at).where(
                OutboxMessage.campaign_id == c.id, OutboxMessage.sent_at.is_not(None)
            )
        )
    ).all()
    return {
        "campaign_id": c.id,
        "status": c.status,
        "status_label": campaigns.STATUS_LABELS.get(c.status, c.status),
        "outbox": {
            k: int(by_status.get(k, 0))
            for k in ("queued", "paused", "sending", "sent", "failed", "suppressed", "cancelled")
        },
        "denied": [
            {"code": k, "label": reason_label(k), "count": n} for k, n in denied.most_common()
        ],
        "deferred": deferred,
        "optouts": sum(optouts.values()),
        "optouts_by_scope": dict(optouts),
        "timeline": timeline([t for t in sent_times if t is not None]),
    }


def timeline(times: list[dt.datetime]) -> list[dict[str, Any]]:
    """Messages sent per minute (per hour for long campaigns), JST labels."""
    if not times:
        return []
    lo, hi = min(times), max(times)
    step = dt.timedelta(minutes=1) if hi - lo <= dt.timedelta(hours=2) else dt.timedelta(hours=1)
    base = lo.astimezone(JST).replace(second=0, microsecond=0)
    if step == dt.timedelta(hours=1):
        base = base.replace(minute=0)
    counts: Counter[int] = Counter(int((t - base) // step) for t in times)
    last = max(counts)
    fmt = "%H:%M" if step == dt.timedelta(minutes=1) else "%m/%d %H時"
    return [
        {"at": (base + i * step).strftime(fmt), "sent": counts.get(i, 0)}
        for i in range(max(0, last - 59), last + 1)
    ]


async def dashboard(session: AsyncSession, *, now: dt.datetime) -> dict[str, Any]:
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
    trend = [
        {
            "day": (start + dt.timedelta(days=i)).strftime("%m/%d"),
            "optouts": per_day.get((start + dt.timedelta(days=i)).date(), 0),
        }
        for i in range(days)
    ]
    return {
        "runs": [
            {
                "id": r.id,
                "run_date": r.run_date.isoformat() if r.run_date else None,
                "status": r.status,
                "started_at": r.started_at.isoformat(),
                "summary": {k: v for k, v in (r.summary or {}).items() if not isinstance(v, dict)},
            }
            for r in runs
        ],
        "queue": {k: int(queue.get(k, 0)) for k in ("queued", "sending", "paused")},
        "failures_24h": failures,
        "optout_trend": trend,
    }
