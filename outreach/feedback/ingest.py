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

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses, bootstrap
from outreach.clock import JST
from outreach.db.models import (
    Campaign,
    Customer,
    DmarcRow,
    FeedbackReport,
    OutboxMessage,
    SendAttempt,
)
from outreach.feedback import arf, dmarc, dsn, mime, rates
from outreach.feedback.config import FeedbackConfig
from outreach.feedback.reports import Complaint, DmarcReport, Dsn, ReportError
from outreach.feedback.source import Item
from outreach.feedback.suppression import suppress
from outreach.gate import consent
from outreach.staff import campaigns

log = logging.getLogger(__name__)

ACTOR = "feedback"
RAW_CAP = 200_000  # characters of a report kept as evidence


@dataclass
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
class _Sent:
    id: int
    customer_id: int
    advertising: bool
    attempts: int
    sent_at: dt.datetime | None


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


async def _seen(s: AsyncSession, key: str) -> bool:
    return (await s.scalar(select(FeedbackReport.id).where(FeedbackReport.key == key))) is not None


async def _sent(s: AsyncSession, message_id: str | None) -> _Sent | None:
    if not message_id:
        return None
    o = OutboxMessage
    row = (
        await s.execute(
            select(o.id, o.customer_id, o.advertising, o.attempts, o.sent_at)
            .where(o.message_id == message_id)
            .limit(1)
        )
    ).first()
    return _Sent(row[0], row[1], bool(row[2]), row[3], row[4]) if row else None


def _day(at: dt.datetime | None, now: dt.datetime) -> dt.date:
    return (at or now).astimezone(JST).date()


async def _dsn(
    s: AsyncSession,
    d: Dsn,
    digest: str,
    source: str,
    raw: str,
    cfg: FeedbackConfig,
    now: dt.datetime,
) -> list[str]:
    if await _seen(s, f"sha256:{digest}:0"):
        return ["duplicate"] * len(d.bounces)
    sent = await _sent(s, d.original_message_id)
    outcomes = []
    for i, b in enumerate(d.bounces):
        severity = dsn.severity(b, cfg.hard_statuses)
        why = f"{b.status} {b.diagnostic}".strip()
        mid = d.original_message_id or "-"
        if severity == "hard":
            await suppress(
                s, b.recipient, reason="hard_bounce", detail=f"{why} (Message-ID {mid})", now=now
            )
            outcome = "suppressed"
        elif severity == "soft":
            since = now - dt.timedelta(days=cfg.soft_window_days)
            earlier = await s.scalar(
                select(func.count())
                .select_from(FeedbackReport)
                .where(
                    FeedbackReport.recipient == b.recipient,
                    FeedbackReport.kind == "dsn",
                    FeedbackReport.severity == "soft",
                    FeedbackReport.received_at >= since,
                )
            )
            if int(earlier or 0) + 1 >= cfg.soft_limit:
                detail = f"{int(earlier or 0) + 1} soft bounces, last {why} (Message-ID {mid})"
                await suppress(s, b.recipient, reason="soft_bounce", detail=detail, now=now)
                outcome = "suppressed"
            else:
                outcome = "counted"
        elif severity == "delayed":
            outcome = "noted"
        else:
            outcome = "ignored"
        s.add(
            FeedbackReport(
                key=f"sha256:{digest}:{i}",
                kind="dsn",
                severity=severity,
                received_at=now,
                day=_day(d.arrival, now),
                source=source[:200],
                recipient=b.recipient[:254],
                outbox_id=sent.id if sent else None,
                original_message_id=(d.original_message_id or None) and d.original_message_id[:300],
                stream=rates.stream_of(sent.advertising) if sent else None,
                status=b.status[:16] or None,
                outcome=outcome,
                detail=why[:400],
                raw=raw if i == 0 else "",
            )
        )
        if sent is not None and severity in ("hard", "soft"):
            s.add(
                SendAttempt(
                    outbox_id=sent.id,
                    attempt=sent.attempts,
                    at=now,
                    result=f"{severity}_bounce",
                    detail=f"DSN from {d.reporting_mta or '?'}: {why}"[:400],
                    worker=ACTOR,
                )
            )
        outcomes.append(outcome)
    await s.flush()
    return outcomes


async def _complaint(
    s: AsyncSession,
    c: Complaint,
    digest: str,
    source: str,
    raw: str,
    scope: str,
    now: dt.datetime,
) -> list[str]:
    key = f"sha256:{digest}:0"
    if await _seen(s, key):
        return ["duplicate"]
    sent = await _sent(s, c.original_message_id)
    if sent is not None:
        customers = [sent.customer_id]
        stream = rates.stream_of(sent.advertising)
        day = _day(sent.sent_at, now)
    else:
        customers = []
        if c.original_rcpt:
            customers = list(
                (
                    await s.scalars(
                        select(Customer.id).where(
                            addresses.sql_normalised(Customer.email) == c.original_rcpt
                        )
                    )
                ).all()
            )
        stream = "reminder" if "<reminder." in c.list_id else "campaign"
        day = _day(c.arrival, now)
    report = FeedbackReport(
        key=key,
        kind="complaint",
        severity="complaint",
        received_at=now,
        day=day,
        source=source[:200],
        recipient=(c.original_rcpt or None) and c.original_rcpt[:254],
        outbox_id=sent.id if sent else None,
        original_message_id=(c.original_message_id or None) and c.original_message_id[:300],
        stream=stream,
        feedback_type=c.feedback_type[:32],
        outcome="pending",
        detail=f"{c.user_agent} {c.reported_domain}".strip()[:400] or None,
        raw=raw,
    )
    s.add(report)
    await s.flush()
    if c.feedback_type not in arf.COMPLAINT_TYPES:
        report.outcome = "ignored"
        return ["ignored"]
    if not customers:
        report.outcome = "unmatched"
        return ["unmatched"]
    evidence = {
        "report_id": report.id,
        "report_sha256": digest,
        "feedback_type": c.feedback_type,
        "user_agent": c.user_agent[:200],
        "reported_domain": c.reported_domain[:200],
        "reporting_mta": c.reporting_mta[:200],
        "arrival": c.arrival.isoformat() if c.arrival else None,
        "message_id": c.original_message_id,
        "outbox_id": sent.id if sent else None,
    }
    changed = False
    for cid in customers:
        changed |= await consent.record_event(
            s,
            cid,
            action="opt_out",
            scope=scope,
            source="complaint",
            actor=ACTOR,
            now=now,
            evidence=evidence,
        )
    report.outcome = "opted_out" if changed else "already_opted_out"
    return [report.outcome]


async def _dmarc(
    s: AsyncSession, r: DmarcReport, source: str, xml: bytes, now: dt.datetime
) -> list[str]:
    key = f"dmarc:{r.org_name}:{r.report_id}"[:200]
    if await _seen(s, key):
        return ["duplicate"]
    day = r.begin.astimezone(JST).date()
    report = FeedbackReport(
        key=key,
        kind="dmarc",
        received_at=now,
        day=day,
        source=source[:200],
        outcome="recorded",
        detail=f"{r.org_name} {r.domain} p={r.policy} records={len(r.records)}"[:400],
        raw=xml.decode("utf-8", "replace")[:RAW_CAP],
    )
    s.add(report)
    await s.flush()
    for rec in r.records:
        s.add(
            DmarcRow(
                report_id=report.id,
                org_name=r.org_name[:200],
                domain=r.domain[:254],
                day=day,
                source_ip=rec.source_ip[:64],
                count=rec.count,
                disposition=rec.disposition[:16],
                dkim=rec.dkim,
                spf=rec.spf,
                header_from=rec.header_from[:254],
            )
        )
    await s.flush()
    return ["recorded"]


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
