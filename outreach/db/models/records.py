"""The dealer's records: stores, customers, email bases, sensitive records, vehicles,
insurance policies, consent events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db.models.base import TS, Base, Id


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
