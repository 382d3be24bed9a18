"""Staff sessions: server-side rows holding the hash of a random token, an absolute expiry, an
idle timeout and the session's CSRF token; and login rate limiting.

A login attempt is counted before its password is checked, in one atomic upsert per counter
(`login_throttle`, correct under concurrency on SQLite and PostgreSQL), so parallel attempts
cannot slip past the limit and an attempt that cannot be counted is refused, not checked.
Three counters, so that an attacker is slowed without locking the owner out:

- an account at one address: after `per_account_address` failures that pair is refused for
  the rest of the window; the owner at another address still gets in;
- an address, whatever the account: after `per_address` failures that address is refused;
- an account, from anywhere: after `account_slowdown_after` failures each further attempt
  waits a little longer (up to `slowdown_max` seconds), but is never refused for it.

The argon2 check runs in a small thread pool (`PasswordChecks`) with a cap on how many may
wait for it, so a flood of logins never blocks the event loop (the opt-out pages stay fast)
and attempts beyond the cap are answered "busy". The pool's threads run at nice 10: under
contention argon2 gets about a tenth of a CPU against the opt-out pages and the worker, yet a
staff login still finishes in seconds on a busy machine (`SCHED_IDLE` or nice 19 starved it).
An unknown username is answered after as long as a
real check takes here (a running average), without one: its timing does not tell that the
account does not exist, and a flood of made-up usernames — the usual one — costs no argon2.

A flood is a closed loop — each connection sends its next attempt as soon as it has an
answer — so what an answer costs and how soon it comes decide how much of the machine a flood
takes. Three things keep both small:

- a failure is not hurried: every failed attempt — a wrong password, an unknown account,
  "limited", "busy" — leaves `failure_delay` seconds after it arrived (an `asyncio.sleep`,
  no CPU; up to `failure_jitter` of it more, at random, so that a flood's connections drift
  apart instead of coming back as one wave), which caps a flood at about one attempt per
  connection per second, and makes every failure take the same time (the classic
  FAIL_DELAY of login(1));
- each process runs a few counting transactions at a time (`PasswordChecks.counting`): a
  wave of attempts waits in memory, not on the pooled database connections the opt-out
  pages need, and the pool is never grown past its size and shrunk again (a new PostgreSQL
  connection per attempt);
- a key the shared counter has found over its limit is remembered in the process until its
  window ends (`Refusals`): further attempts from it are refused without a database round
  trip. The counter in the database stays the truth every process shares; the memo only
  refuses, earlier, what the counter would refuse.

Failed logins are audit rows (`login.failed`); a refusal counted in the database is one
(`login.limited`); refusals answered from the memo are counted in the process
(`Refusals.answered`) rather than written, so that a flood cannot fill
the audit trail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from outreach.db.models import LoginThrottle, StaffSession, StaffUser
from outreach.staff import audit, roles, users
from outreach.staff.throttle import (
    FAILURE_WINDOW,
    MAX_FAILURES,
    PRUNE_EVERY,
    LoginPolicy,
    PasswordChecks,
    Refusals,
    _uncount,
    count_attempt,
    count_attempts,
    recent_failures,
    throttle_key,
)

__all__ = [
    "FAILURE_WINDOW",
    "IDLE_TIMEOUT",
    "MAX_FAILURES",
    "PRUNE_EVERY",
    "SESSION_LIFETIME",
    "Login",
    "LoginPolicy",
    "PasswordChecks",
    "Principal",
    "Refusals",
    "authenticate",
    "count_attempt",
    "count_attempts",
    "login",
    "logout",
    "recent_failures",
    "revoke_all",
    "throttle_key",
    "token_hash",
]

SESSION_LIFETIME = dt.timedelta(hours=8)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
TOUCH_EVERY = dt.timedelta(minutes=1)  # refresh last_seen_at at most this often
T = TypeVar("T")


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
    reason: str | None = None  # bad_credentials | rate_limited | busy | unavailable
    token: str | None = None
    principal: Principal | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    sessions: async_sessionmaker[AsyncSession],
    checks: PasswordChecks,
    username: str,
    password: str,
    *,
    now: dt.datetime,
    remote: str | None = None,
    policy: LoginPolicy = LoginPolicy(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Login:
    """Count the attempt, check the password off the event loop, open a session.

    Two short transactions, none held across the password check: count (or refuse) and look
    the account up, then record the outcome. An unknown username's failure is recorded with
    its count, in the first (the usual flood: one transaction per attempt). A database error
    while counting refuses the login (`unavailable`): an attempt that is not counted is never
    checked."""
    started = time.monotonic()
    result = await _attempt(
        sessions, checks, username, password, now=now, remote=remote, policy=policy, sleep=sleep
    )
    if not result.ok:
        # Every failure leaves at the same time after its arrival, whatever its reason: a
        # flood gets about one answer per connection per delay, and the time an answer
        # takes tells nothing (an unknown account, a wrong password, a limit).
        floor = policy.failure_delay * random.uniform(1.0, 1.0 + policy.failure_jitter)
        await sleep(max(0.0, started + floor - time.monotonic()))
    return result


async def _attempt(
    sessions: async_sessionmaker[AsyncSession],
    checks: PasswordChecks,
    username: str,
    password: str,
    *,
    now: dt.datetime,
    remote: str | None,
    policy: LoginPolicy,
    sleep: Callable[[float], Awaitable[None]],
) -> Login:
    username = username.strip()[:64]
    name = username.lower()
    address = remote or "-"
    pair_key = throttle_key("account-address", name, address)
    address_key = throttle_key("address", address)
    account_key = throttle_key("account", name)
    if checks.refusals.refused(pair_key, address_key):
        return Login(ok=False, reason="rate_limited")
    if checks.full:  # no slot for a check: "busy" before anything is counted or written
        return Login(ok=False, reason="busy")
    try:
        # A few counting transactions at a time per process: a wave of attempts waits here,
        # in memory, rather than taking every pooled connection from the opt-out pages.
        async with checks.counting, sessions() as s, s.begin():
            counts = await count_attempts(
                s, [pair_key, address_key, account_key], now=now, window=policy.window
            )
            (pair, pair_start), (per_address, address_start) = counts[pair_key], counts[address_key]
            per_account = counts[account_key][0]
            if secrets.randbelow(PRUNE_EVERY) == 0:  # random usernames leave rows behind
                await s.execute(
                    delete(LoginThrottle).where(LoginThrottle.window_start <= now - policy.window)
                )
            limited = pair > policy.per_account_address or per_address > policy.per_address
            stored = None if limited else await users.password_of(s, username)
            if limited or stored is None:  # refused, or no such account: known already
                await audit.note(
                    s,
                    actor=username or "-",
                    action="login.limited" if limited else "login.failed",
                    entity="staff_user",
                    entity_id=username,
                    now=now,
                    reason=remote,
                )
    except SQLAlchemyError:
        return Login(ok=False, reason="unavailable")
    if limited:
        for key, count, limit, start in (
            (pair_key, pair, policy.per_account_address, pair_start),
            (address_key, per_address, policy.per_address, address_start),
        ):
            if count > limit:
                checks.refusals.remember(key, (start + policy.window - now).total_seconds())
        return Login(ok=False, reason="rate_limited")
    beyond = per_account - policy.account_slowdown_after
    if beyond > 0:
        await sleep(min(policy.slowdown_max, beyond * policy.slowdown_step))

    try:
        return await _check_and_record(
            sessions, checks, username, password, stored, now=now, remote=remote,
            keys=(pair_key, address_key, account_key),
        )  # fmt: skip
    except SQLAlchemyError:  # counted already; the outcome could not be written
        return Login(ok=False, reason="unavailable")


async def _check_and_record(
    sessions: async_sessionmaker[AsyncSession],
    checks: PasswordChecks,
    username: str,
    password: str,
    stored: tuple[str, bool] | None,
    *,
    now: dt.datetime,
    remote: str | None,
    keys: tuple[str, str, str],
) -> Login:
    pair_key, address_key, account_key = keys
    if stored is None:  # no such account (its failure is recorded): as long as a check takes
        if await checks.as_long_as_a_check():
            return Login(ok=False, reason="bad_credentials")
        return Login(ok=False, reason="busy")
    good = await checks.run(users.verify_password, stored[0], password)
    if good is None:  # too many checks in flight: not a failure of this account
        async with sessions() as s, s.begin():
            await _uncount(s, [pair_key, address_key, account_key])
        return Login(ok=False, reason="busy")

    async with sessions() as s, s.begin():
        user = await users.by_username(s, username)
        if user is None or not good or not user.active:
            await audit.note(
                s,
                actor=username or "-",
                action="login.failed",
                entity="staff_user",
                entity_id=username,
                now=now,
                reason=remote,
            )
            return Login(ok=False, reason="bad_credentials")
        await s.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key))
        await _uncount(s, [address_key, account_key])
        if users.needs_rehash(user.password_hash):
            rehashed = await checks.run(users.hash_password, password)
            if rehashed is not None:
                user.password_hash = rehashed
        token = secrets.token_urlsafe(32)
        row = StaffSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            last_seen_at=now,
        )
        s.add(row)
        user.last_login_at = now
        await s.flush()
        await audit.record(
            s,
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
