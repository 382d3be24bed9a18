"""Reading the report mailbox into the database: bounces suppress, complaints opt out,
DMARC reports are kept for the daily summary; then the complaint rate is judged.

Each mail is one transaction: its report rows, the suppression or the consent-ledger event it
causes, and the send-log attempt on the outbox row it names commit together. Every report is
keyed by its content (`FeedbackReport.key`), so re-reading a mailbox — or two ingests at
once — records nothing twice. A mail that is no report, or cannot be read, is listed in the
result with why; it never stops the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import (
    Campaign,
)
from outreach.feedback import arf, dmarc, dsn, mime, rates
from outreach.feedback.config import FeedbackConfig
from outreach.feedback.recording import ACTOR, RAW_CAP, _complaint, _dmarc, _dsn
from outreach.feedback.reports import ReportError
from outreach.feedback.source import Item
from outreach.staff import campaigns

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Result:
    messages: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # outcome → reports
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    alerts: list[rates.Rate] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)  # campaign ids paused by the pause rate

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "outcomes": dict(sorted(self.counts.items())),
            "duplicates": self.duplicates,
            "rejected": [{"source": s, "reason": r} for s, r in self.rejected],
            "alerts": [a.as_dict() for a in self.alerts],
            "paused_campaigns": self.paused,
        }


@dataclass(frozen=True)
class _SystemActor:
    """The actor of a pause caused by the complaint rate (audited as `feedback`)."""

    username: str = ACTOR
    role: str = "admin"


def classify(msg: Message) -> str | None:
    if dsn.is_dsn(msg):
        return "dsn"
    if arf.is_arf(msg):
        return "complaint"
    if dmarc.is_dmarc(msg):
        return "dmarc"
    return None


async def ingest(
    app: bootstrap.App,
    items: AsyncIterator[Item],
    cfg: FeedbackConfig,
    *,
    optout_scope: str = "category:marketing",
) -> Result:
    result = Result()
    new_complaints = False
    async for item in items:
        result.messages += 1
        try:
            msg = mime.parse(item.raw)
            kind = classify(msg)
        except Exception as e:  # a malformed mail must not stop the others
            result.rejected.append((item.source, f"unreadable mail: {type(e).__name__}"))
            continue
        if kind is None:
            result.rejected.append((item.source, "not a DSN, ARF or DMARC report"))
            await asyncio.to_thread(item.done)
            continue
        digest = hashlib.sha256(item.raw).hexdigest()
        now = app.clock.now()
        raw = item.raw.decode("utf-8", "replace")[:RAW_CAP]
        try:
            async with app.sessions() as s, s.begin():
                if kind == "dsn":
                    outcomes = await _dsn(s, dsn.parse(msg), digest, item.source, raw, cfg, now)
                elif kind == "complaint":
                    outcomes = await _complaint(
                        s, arf.parse(msg), digest, item.source, raw, optout_scope, now
                    )
                else:
                    outcomes = []
                    for xml in dmarc.attachments(msg):
                        report = dmarc.parse_xml(xml)
                        outcomes += await _dmarc(s, report, item.source, xml, now)
        except ReportError as e:
            result.rejected.append((item.source, str(e)))
            continue
        except IntegrityError:  # another ingest recorded the same report meanwhile
            outcomes = ["duplicate"]
        await asyncio.to_thread(item.done)
        for o in outcomes:
            if o == "duplicate":
                result.duplicates += 1
            else:
                result.add(o)
                new_complaints |= kind == "complaint"
    await _judge(app, cfg, result, pause=new_complaints)
    return result


async def _judge(app: bootstrap.App, cfg: FeedbackConfig, result: Result, *, pause: bool) -> None:
    """Judge the recent days' complaint rates; above the pause rate, hold every campaign."""
    now = app.clock.now()
    last = now.astimezone(JST).date()
    first = last - dt.timedelta(days=cfg.judge_days - 1)
    async with app.sessions() as s, s.begin():
        judged = await rates.load(s, first, last, cfg)
        result.alerts = [r for r in judged if r.level in ("alert", "pause")]
        for r in result.alerts:
            log.warning(
                "complaint rate %.3f%% (%d of %d) on %s in stream %s: %s",
                r.rate * 100,
                r.complaints,
                r.sent,
                r.day.isoformat(),
                r.stream,
                "campaign sending paused" if r.level == "pause" else "above the alert rate",
            )
        if not pause or not any(r.level == "pause" for r in judged):
            return
        ids = (
            await s.scalars(
                select(Campaign.id).where(
                    Campaign.status.in_((campaigns.SCHEDULED, campaigns.RUNNING))
                )
            )
        ).all()
        for cid in ids:
            await campaigns.pause(s, cid, actor=_SystemActor(), now=now)
            result.paused.append(cid)
    if result.paused:
        log.warning("complaint rate above the pause rate: paused campaigns %s", result.paused)
