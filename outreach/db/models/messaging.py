"""Messaging: campaigns, runs, gate decisions, the outbox, send attempts, suppressions,
flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db.models.base import TS, Base, Id


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subject_template: Mapped[str] = mapped_column(Text, default="")
    text_template: Mapped[str] = mapped_column(Text, default="")
    html_template: Mapped[str] = mapped_column(Text, default="")
    advertising: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule_at: Mapped[dt.datetime | None] = mapped_column(TS)
    recurrence: Mapped[str | None] = mapped_column(String(100))  # cron expression, Asia/Tokyo
    rate_per_second: Mapped[float] = mapped_column(default=10.0)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class Run(Base):
    """One execution of a job (daily reminder run, campaign send), with its summary."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # daily|campaign|…
    run_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(TS)
    finished_at: Mapped[dt.datetime | None] = mapped_column(TS)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GateDecision(Base):
    """Every decision, allowed or not, with every reason code (space-separated)."""

    __tablename__ = "gate_decisions"
    __table_args__ = (Index("ix_gate_decisions_customer", "customer_id", "decided_at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    allowed: Mapped[bool] = mapped_column(Boolean)
    deferred_until: Mapped[dt.datetime | None] = mapped_column(TS)
    reasons: Mapped[str] = mapped_column(String(400), default="")
    items: Mapped[str] = mapped_column(String(400), default="")
    subject_key: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime] = mapped_column(TS)


class OutboxMessage(Base):
    """A message allowed by the gate, waiting for render and send.

    `idempotency_key` is unique: a re-run, a misfire or a second process cannot queue it twice
    (R27). Status: queued → sending → sent | failed | suppressed | cancelled.
    """

    __tablename__ = "outbox"
    # The worker claims by (status, channel, not_before): post and phone rows stay queued as
    # the print and call lists' source, and must not lie in the email claim's index path.
    __table_args__ = (Index("ix_outbox_ready", "status", "channel", "not_before"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(Integer)
    policy_id: Mapped[int | None] = mapped_column(Integer)
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    decision_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))  # email|post|phone
    kind: Mapped[str] = mapped_column(String(32))  # shaken|inspection|jibaiseki|nini|campaign
    stage: Mapped[str | None] = mapped_column(String(32))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    template: Mapped[str] = mapped_column(String(200))
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    advertising: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    not_before: Mapped[dt.datetime] = mapped_column(TS)
    lease_until: Mapped[dt.datetime | None] = mapped_column(TS)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    to_address: Mapped[str | None] = mapped_column(String(254))
    message_id: Mapped[str | None] = mapped_column(String(300))
    basis: Mapped[str | None] = mapped_column(String(16))
    basis_id: Mapped[int | None] = mapped_column(Integer)
    template_version: Mapped[str | None] = mapped_column(String(64))
    template_hash: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    sent_at: Mapped[dt.datetime | None] = mapped_column(TS)
    # Letters: the print batch an entry belongs to, and who confirmed it sent to print.
    print_batch: Mapped[str | None] = mapped_column(String(32), index=True)
    printed_at: Mapped[dt.datetime | None] = mapped_column(TS)
    printed_by: Mapped[str | None] = mapped_column(String(64))


class SendAttempt(Base):
    __tablename__ = "send_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(TS)
    result: Mapped[str] = mapped_column(String(16))  # sent|temp_fail|perm_fail|suppressed|denied
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(400))
    worker: Mapped[str | None] = mapped_column(String(100))


class Suppression(Base):
    """Addresses never to mail again (hard bounce, complaint)."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # hard_bounce|complaint|manual
    detail: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(TS)


class Flag(Base):
    """Something staff must look at, e.g. a 自賠責 cover gap before the shaken expiry (R32)."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    vehicle_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(TS)
