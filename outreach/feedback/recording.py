"""What each report records, in the mail's transaction: a bounce (DSN) suppresses and
logs the attempt, a complaint (ARF) opts out through the consent ledger, a DMARC report is
kept as rows for the daily summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.clock import JST
from outreach.db.models import (
    Customer,
    DmarcRow,
    FeedbackReport,
    OutboxMessage,
    SendAttempt,
)
from outreach.feedback import arf, dsn, rates
from outreach.feedback.config import FeedbackConfig
from outreach.feedback.reports import Complaint, DmarcReport, Dsn
from outreach.feedback.suppression import suppress
from outreach.gate import consent

ACTOR = "feedback"
RAW_CAP = 200_000  # characters of a report kept as evidence


@dataclass(frozen=True)
class _Sent:
    id: int
    customer_id: int
    advertising: bool
    attempts: int
    sent_at: dt.datetime | None


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
