"""The schema. One Alembic migration chain creates exactly this on SQLite and PostgreSQL.

Enumerations are stored as short strings (checked by the application, not DB enums) so the
same migration runs on both engines and new values need no ALTER TYPE.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class AwareDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes on both engines: stored as UTC, read back aware.

    PostgreSQL keeps `timestamptz`; SQLite has no zone, so naive values read back are UTC.
    A naive datetime is refused on the way in (STYLE: aware datetimes only).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


TS = AwareDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: TS,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Store(Base):
    """A dealer store (店舗) with its regular closing days (定休日)."""

    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(400))
    # ISO weekdays (1=Mon … 7=Sun) the store is closed, e.g. [2] for Tuesdays.
    closing_weekdays: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Customer(Base):
    """A customer as the DMS knows them, with their current contact preferences ON the record.

    `opt_outs` holds scope strings ("all", "category:marketing", "purpose:p3", "channel:email",
    "campaign:12", "kind:shaken"); it is derived from the consent ledger and written in the
    same transaction as each ledger event (`outreach consent verify` re-derives it).
    """

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name_kanji: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(8))
    prefecture: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|deceased|closed
    # How the data was acquired (R2, R4): direct, or joint_use through a named partner.
    acquisition: Mapped[str] = mapped_column(String(16), default="direct")
    joint_use_partner: Mapped[str | None] = mapped_column(String(200))
    # The route the data came by (R4): "lexus_tokyo" for data obtained via LEXUS TOKYO, whose
    # joint use covers only such data (purposes.toml [joint_use.groups.lexus_tokyo]).
    acquisition_source: Mapped[str | None] = mapped_column(String(32))
    acquired_on: Mapped[dt.date | None] = mapped_column(Date)
    notice_version: Mapped[int] = mapped_column(Integer, default=1)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    customer_since: Mapped[dt.date | None] = mapped_column(Date)
    last_visit_on: Mapped[dt.date | None] = mapped_column(Date)
    # Current preferences, kept in step with the consent ledger.
    opt_outs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    use_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    consents: Mapped[list[Any]] = mapped_column(JSON, default=list)  # e.g. "insurer_share"
    ledger_seq: Mapped[int] = mapped_column(Integer, default=0)
    ledger_head: Mapped[str | None] = mapped_column(String(64))
    # Set when a call found the number wrong: the phone channel is unreachable until the
    # DMS import brings a different number.
    phone_unreachable_at: Mapped[dt.datetime | None] = mapped_column(TS)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class EmailBasis(Base):
    """The 特定電子メール法 basis for advertising mail to one address (R15) and evidence (R17)."""

    __tablename__ = "email_bases"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    basis: Mapped[str] = mapped_column(String(16))  # opt_in|written|transaction|published
    evidence_at: Mapped[dt.datetime] = mapped_column(TS)
    evidence_method: Mapped[str] = mapped_column(String(64))  # web_form|paper_form|business_card|…
    evidence_text: Mapped[str] = mapped_column(Text)  # the standard text or screen shown
    evidence_ref: Mapped[str | None] = mapped_column(String(200))  # form id, URL, scan id
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(TS)


class SensitiveRecord(Base):
    """要配慮個人情報 (R3), kept apart from every other table and only with consent.

    Nothing in templates, audience filters or exports may read this table; the gate's item
    analysis denies any reference to a `sensitive.*` item.
    """

    __tablename__ = "sensitive_records"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(64))  # e.g. welcab_needs
    value: Mapped[str] = mapped_column(Text)
    consent_at: Mapped[dt.datetime] = mapped_column(TS)  # NOT NULL: no consent, no row
    consent_evidence: Mapped[str] = mapped_column(String(400))
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TS)


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)  # 使用者
    owner_name: Mapped[str | None] = mapped_column(String(200))  # 所有者
    owner_kind: Mapped[str] = mapped_column(String(16), default="user")  # user|lease|credit|other
    car_name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str | None] = mapped_column(String(50))
    model_code: Mapped[str | None] = mapped_column(String(50))
    registration_number: Mapped[str | None] = mapped_column(String(50))
    first_registered_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    shaken_expiry_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    last_inspection_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    booked_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="owned")  # owned|sold|scrapped
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class InsurancePolicy(Base):
    """A policy held as insurance agent; `insurer` is its partition (R6)."""

    __tablename__ = "insurance_policies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    insurer: Mapped[str] = mapped_column(
        String(32)
    )  # tokio_marine|aioi_nissay_dowa|mitsui_sumitomo|other
    kind: Mapped[str] = mapped_column(String(16))  # jibaiseki|nini
    starts_at: Mapped[dt.datetime | None] = mapped_column(TS)
    expires_at: Mapped[dt.datetime] = mapped_column(TS)
    expires_on: Mapped[dt.date] = mapped_column(Date, index=True)  # JST date of expires_at
    held_as_processor: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class ConsentEvent(Base):
    """Append-only consent ledger, hash-chained per customer (seq 1, 2, …)."""

    __tablename__ = "consent_events"
    __table_args__ = (UniqueConstraint("customer_id", "seq"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # grant|withdraw|opt_out|cessation|resubscribe
    scope: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(
        String(32)
    )  # link|one_click|preference_page|phone|store|import|…
    actor: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(TS)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


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


class ProvisionRecord(Base):
    """Third-party provision / receipt record (APPI Art. 29/30, R5); immutable."""

    __tablename__ = "provision_records"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # provide|receive
    counterparty: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    basis: Mapped[str] = mapped_column(String(64))  # consent|joint_use|outsourcing|law
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(TS)


class DataRequest(Base):
    """Art. 33–35 requests (disclosure, correction, cessation) and their answers."""

    __tablename__ = "data_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # disclosure|correction|cessation
    received_at: Mapped[dt.datetime] = mapped_column(TS)
    received_by: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str | None] = mapped_column(String(32))
    notified_at: Mapped[dt.datetime | None] = mapped_column(TS)


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # marketer|approver|admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(TS)


class StaffSession(Base):
    """A server-side staff login session: revocable, expiring, with its CSRF token.

    Only the SHA-256 of the session token is stored, so a copy of the table logs nobody in.
    """

    __tablename__ = "staff_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    expires_at: Mapped[dt.datetime] = mapped_column(TS)
    last_seen_at: Mapped[dt.datetime] = mapped_column(TS)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(TS)


class LoginThrottle(Base):
    """Failed-login counters, one row per key (an account at an address, an address, an
    account), counted in one atomic upsert per attempt. The key is a SHA-256 digest, so the
    table holds no usernames or addresses."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(TS, index=True)


class AuditEntry(Base):
    """Who did what, when, before/after (staff actions, corrections, reads of personal data)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(400))
    at: Mapped[dt.datetime] = mapped_column(TS, index=True)


class Lease(Base):
    """A named lease with expiry (scheduler leader on engines without advisory locks)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(TS)


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
