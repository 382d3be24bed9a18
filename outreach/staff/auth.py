"""Staff sessions: server-side rows holding the hash of a random token, an absolute expiry, an
idle timeout and the session's CSRF token; and login rate limiting.

Failed logins are audit rows (`login.failed`), so the limit holds across processes and
restarts and the trail shows every attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import AuditEntry, StaffSession, StaffUser
from outreach.staff import audit, roles, users

SESSION_LIFETIME = dt.timedelta(hours=8)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
TOUCH_EVERY = dt.timedelta(minutes=1)  # refresh last_seen_at at most this often
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated staff member behind a request."""

    user_id: int
    username: str
    display_name: str
    role: str
    session_id: int
    csrf_token: str

    def can(self, permission: str) -> bool:
        return roles.allows(self.role, permission)

    def require(self, permission: str) -> None:
        roles.require(self.role, permission)


@dataclass(frozen=True, slots=True)
class Login:
    """The outcome of a login attempt, a value: ok with a token, or the reason it failed."""

    ok: bool
    reason: str | None = None  # bad_credentials | rate_limited
    token: str | None = None
    principal: Principal | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def recent_failures(session: AsyncSession, username: str, now: dt.datetime) -> int:
    q = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "login.failed",
            AuditEntry.entity == "staff_user",
            AuditEntry.entity_id == username,
            AuditEntry.at > now - FAILURE_WINDOW,
        )
    )
    return int(await session.scalar(q) or 0)


async def login(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    now: dt.datetime,
    remote: str | None = None,
) -> Login:
    """Check the password and open a session. The caller commits in every outcome, so a
    failure's audit row (which feeds the rate limit) is kept."""
    username = username.strip()[:64]
    if await recent_failures(session, username, now) >= MAX_FAILURES:
        await audit.record(
            session,
            actor=username or "-",
            action="login.limited",
            entity="staff_user",
            entity_id=username,
            now=now,
            reason=remote,
        )
        return Login(ok=False, reason="rate_limited")
    user = await users.by_username(session, username)
    good = users.verify_password(user.password_hash if user else users.dummy_hash(), password)
    if user is None or not good or not user.active:
        await audit.record(
            session,
            actor=username or "-",
            action="login.failed",
            entity="staff_user",
            entity_id=username,
            now=now,
            reason=remote,
        )
        return Login(ok=False, reason="bad_credentials")
    if users.needs_rehash(user.password_hash):
        user.password_hash = users.hash_password(password)
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
    )
    session.add(row)
    user.last_login_at = now
    await session.flush()
    await audit.record(
        session,
        actor=user.username,
        action="login",
        entity="staff_user",
        entity_id=username,
        now=now,
        reason=remote,
    )
    return Login(ok=True, token=token, principal=_principal(user, row))


def _principal(user: StaffUser, row: StaffSession) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        session_id=row.id,
        csrf_token=row.csrf_token,
    )


async def authenticate(
    session: AsyncSession, token: str | None, *, now: dt.datetime
) -> Principal | None:
    """The principal of a live session token, or None (unknown, expired, idle, revoked,
    or the account deactivated)."""
    if not token or len(token) > 200:
        return None
    found = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == token_hash(token))
        )
    ).first()
    if found is None:
        return None
    row, user = found
    if (
        row.revoked_at is not None
        or now >= row.expires_at
        or now >= row.last_seen_at + IDLE_TIMEOUT
        or not user.active
    ):
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return _principal(user, row)


async def logout(session: AsyncSession, principal: Principal, *, now: dt.datetime) -> None:
    await session.execute(
        update(StaffSession).where(StaffSession.id == principal.session_id).values(revoked_at=now)
    )
    await audit.record(
        session,
        actor=principal.username,
        action="logout",
        entity="staff_user",
        entity_id=principal.username,
        now=now,
    )


async def revoke_all(session: AsyncSession, user_id: int, *, now: dt.datetime) -> None:
    """End every session of a user (deactivation, password or role change)."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
