"""Operations and the dealer's day: incidents, send budgets, signups, feedback reports,
DMARC rows, call attempts, service events, worker heartbeats, form submissions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db.models.base import TS, Base, Id


class Incident(Base):
    """A leak or suspected leak (APPI Art. 26, R12): what, when found, its classes, deadlines.

    `classes` holds the reportable classes that apply (sensitive|financial|wrongful|over_1000);
    the 速報 and 確報 due dates are computed from `discovered_at` when it is recorded. The
    history (every change, report and notification) is in the audit log under entity
    "incident".
    """

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    discovered_at: Mapped[dt.datetime] = mapped_column(TS)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(TS)
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)  # data items involved
    affected_count: Mapped[int] = mapped_column(Integer, default=0)
    reportable: Mapped[bool] = mapped_column(Boolean, default=False)
    preliminary_due_on: Mapped[dt.date | None] = mapped_column(Date)
    final_due_on: Mapped[dt.date | None] = mapped_column(Date)
    preliminary_reported_at: Mapped[dt.datetime | None] = mapped_column(TS)
    final_reported_at: Mapped[dt.datetime | None] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|closed
    source: Mapped[str | None] = mapped_column(String(200))  # e.g. "outbox:123"
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    closed_at: Mapped[dt.datetime | None] = mapped_column(TS)


class IncidentSubject(Base):
    """One person an incident affects, and how and when they were told (R12)."""

    __tablename__ = "incident_subjects"
    __table_args__ = (UniqueConstraint("incident_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    notified_at: Mapped[dt.datetime | None] = mapped_column(TS)
    notified_via: Mapped[str | None] = mapped_column(String(32))  # email|post
    notice_ref: Mapped[str | None] = mapped_column(String(200))  # outbox id or letter batch


class SendBudget(Base):
    """A sending budget shared by every worker: one GCRA bucket (relay or carrier group, per
    second or per hour). `tat` is the theoretical arrival time of the next send, in seconds
    since the epoch; claims lock the row and move it forward (outreach/send/ratelimit.py)."""

    __tablename__ = "send_budgets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)


class SignupRequest(Base):
    """A sign-up for the dealer's mail waiting for its confirmation link (double opt-in).

    Only the SHA-256 of the confirmation token is stored. The evidence the 特定電子メール法
    asks for (R17) is copied into the consent ledger when the link is followed; this row keeps
    what was shown and asked until then (and afterwards, as the request's record).
    """

    __tablename__ = "signup_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)  # addresses.normalise form
    name: Mapped[str | None] = mapped_column(String(200))
    purposes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    method: Mapped[str] = mapped_column(String(32))  # web_form|showroom_tablet
    form_version: Mapped[str] = mapped_column(String(32))
    form_text: Mapped[str] = mapped_column(Text)  # the exact consent text shown
    form_hash: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64), index=True)
    user_agent: Mapped[str | None] = mapped_column(String(400))
    staff_user: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)  # set when confirmed
    requested_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(TS)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(TS)
    confirm_addr: Mapped[str | None] = mapped_column(String(64))
    sent: Mapped[bool] = mapped_column(Boolean, default=False)  # confirmation mail accepted


class FeedbackReport(Base):
    """One report read from the feedback mailbox: a DSN recipient, a complaint, a DMARC report.

    `key` makes ingest idempotent (a re-read mailbox adds nothing): the SHA-256 of the raw
    mail plus the recipient's index for DSNs and complaints, `dmarc:<org>:<report id>` for
    aggregate reports. `raw` keeps the report as received (capped): the evidence for the
    suppression or the opt-out it caused.
    """

    __tablename__ = "feedback_reports"
    __table_args__ = (Index("ix_feedback_reports_kind_day", "kind", "day"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # dsn|complaint|dmarc
    severity: Mapped[str | None] = mapped_column(String(16))  # hard|soft|delayed|complaint
    received_at: Mapped[dt.datetime] = mapped_column(TS)
    day: Mapped[dt.date] = mapped_column(Date)  # JST day the report counts for
    source: Mapped[str] = mapped_column(String(200))  # maildir:<key> | imap:<uid>
    recipient: Mapped[str | None] = mapped_column(String(254), index=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer, index=True)
    original_message_id: Mapped[str | None] = mapped_column(String(300))
    stream: Mapped[str | None] = mapped_column(String(16))  # reminder|campaign
    status: Mapped[str | None] = mapped_column(String(16))  # RFC 3463 code, e.g. 5.1.1
    feedback_type: Mapped[str | None] = mapped_column(String(32))  # ARF: abuse, fraud…
    outcome: Mapped[str] = mapped_column(String(32))  # suppressed|counted|opted_out|…
    detail: Mapped[str | None] = mapped_column(String(400))
    raw: Mapped[str] = mapped_column(Text, default="")


class DmarcRow(Base):
    """One <record> of a DMARC aggregate report (RFC 7489 appendix C)."""

    __tablename__ = "dmarc_rows"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_reports.id", ondelete="CASCADE"), index=True
    )
    org_name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(254))
    day: Mapped[dt.date] = mapped_column(Date, index=True)  # JST day of the report's begin
    source_ip: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(16))  # none|quarantine|reject
    dkim: Mapped[str] = mapped_column(String(8))  # DMARC-aligned DKIM: pass|fail
    spf: Mapped[str] = mapped_column(String(8))  # DMARC-aligned SPF: pass|fail
    header_from: Mapped[str] = mapped_column(String(254))


class CallAttempt(Base):
    """One phone call made from the call list, with its outcome (written with its effects)."""

    __tablename__ = "call_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    # reached|booked|declined|call_back|wrong_number|opt_out|cessation
    outcome: Mapped[str] = mapped_column(String(16))
    on_date: Mapped[dt.date | None] = mapped_column(Date)  # booked date or call-back date
    note: Mapped[str | None] = mapped_column(String(400))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(TS)


class ServiceEvent(Base):
    """A service booking (入庫予約) or a completed inspection (車検実施) from the DMS."""

    __tablename__ = "service_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # booking|completion
    service: Mapped[str] = mapped_column(String(16))  # shaken|inspection
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    on_date: Mapped[dt.date] = mapped_column(Date)  # booked visit date, or the date done
    next_expiry_on: Mapped[dt.date | None] = mapped_column(Date)  # completion: new 車検満了日
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class WorkerHeartbeat(Base):
    """The last sign of life of each outbox worker (the console's sending-state panel)."""

    __tablename__ = "worker_heartbeats"
    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(TS)
    beat_at: Mapped[dt.datetime] = mapped_column(TS)
    claimed: Mapped[int] = mapped_column(BigInteger, default=0)  # messages handled so far
    in_process: Mapped[bool] = mapped_column(Boolean, default=False)  # inside `outreach serve`


class FormSubmission(Base):
    """A console form's one-time token, spent by its first submission (Back and submit again
    is refused and shown the first result); `result_url` is where that submission led."""

    __tablename__ = "form_submissions"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    result_url: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(TS, index=True)
