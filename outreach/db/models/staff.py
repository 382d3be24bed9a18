"""Data protection records and the staff side: provision records, data requests, staff
users and sessions, login throttling, the audit log, leases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db.models.base import TS, Base, Id


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
