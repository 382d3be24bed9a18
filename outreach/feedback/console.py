"""What the console's feedback page shows: complaint rates with their alerts, recent bounces
and complaints, the DMARC summary. Read-only; the web page and the API call this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import FeedbackReport, Suppression
from outreach.feedback import rates, summary
from outreach.feedback.config import FeedbackConfig


@dataclass(frozen=True)
class Overview:
    daily: list[rates.Rate]
    alerts: list[rates.Rate]  # within the judged days
    reports: list[dict[str, Any]]  # the latest, addresses masked
    suppressed: dict[str, int]  # reason → addresses
    dmarc: list[summary.DaySource]
    config: FeedbackConfig


def mask(address: str | None) -> str:
    """`ta***@gmail.com`: enough to tell addresses apart on screen, not to read them."""
    if not address or "@" not in address:
        return "—"
    local, domain = address.split("@", 1)
    return f"{local[:2]}***@{domain}"


async def overview(
    session: AsyncSession, cfg: FeedbackConfig, *, now: dt.datetime, days: int = 14
) -> Overview:
    last = now.astimezone(JST).date()
    first = last - dt.timedelta(days=days - 1)
    judged_from = last - dt.timedelta(days=cfg.judge_days - 1)
    found = await rates.load(session, first, last, cfg)
    f = FeedbackReport
    latest = (
        await session.execute(
            select(
                f.received_at,
                f.kind,
                f.severity,
                f.status,
                f.outcome,
                f.recipient,
                f.stream,
                f.feedback_type,
                f.detail,
            )
            .where(f.kind != "dmarc")
            .order_by(f.received_at.desc(), f.id.desc())
            .limit(30)
        )
    ).all()
    reports = [
        {
            "received_at": r.received_at,
            "kind": r.kind,
            "severity": r.severity,
            "status": r.status or "",
            "outcome": r.outcome,
            "recipient": mask(r.recipient),
            "stream": r.stream or "",
            "feedback_type": r.feedback_type or "",
        }
        for r in latest
    ]
    suppressed = dict(
        (
            await session.execute(
                select(Suppression.reason, func.count()).group_by(Suppression.reason)
            )
        ).all()
    )
    return Overview(
        daily=found,
        alerts=[r for r in found if r.level in ("alert", "pause") and r.day >= judged_from],
        reports=reports,
        suppressed={str(k): int(v) for k, v in suppressed.items()},
        dmarc=await summary.dmarc(session, first, last),
        config=cfg,
    )
