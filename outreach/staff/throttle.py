"""Login counters and password checks: the pieces `staff.auth.login` is made of.

Counters per (account, address), per address and per account in `login_throttle`, each
added to by one atomic upsert; a per-process memo of keys found over their limit
(`Refusals`); argon2 in a small thread pool at a lower CPU priority with a cap
(`PasswordChecks`). Why each exists: `staff.auth`'s module docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Integer, String, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import TS, AuditEntry, LoginThrottle
from outreach.staff import users

MAX_FAILURES = 5  # of one account at one address, per window
FAILURE_WINDOW = dt.timedelta(minutes=15)
PRUNE_EVERY = 64  # about one attempt in this many deletes the counters of past windows

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    per_account_address: int = MAX_FAILURES
    per_address: int = 20
    account_slowdown_after: int = 10
    slowdown_step: float = 0.25  # seconds added per failure beyond the threshold
    slowdown_max: float = 3.0
    window: dt.timedelta = FAILURE_WINDOW
    failure_delay: float = 1.0  # seconds from a failed attempt's arrival to its answer
    failure_jitter: float = 0.5  # up to this fraction of failure_delay more, at random


class Refusals:
    """Keys (account at address, address) the shared counter found over their limit, with
    the monotonic time their window ends: refused from memory until then. Bounded: beyond
    `capacity` keys, the ones whose window has ended are dropped, then the oldest."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._until: dict[str, float] = {}
        self.answered = 0  # refusals answered from memory, without the database

    def refused(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            until = self._until.get(key)
            if until is not None:
                if until > now:
                    self.answered += 1
                    return True
                del self._until[key]
        return False

    def remember(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return
        if len(self._until) >= self.capacity:
            now = time.monotonic()
            for k in [k for k, u in self._until.items() if u <= now]:
                del self._until[k]
            while len(self._until) >= self.capacity:
                del self._until[next(iter(self._until))]
        self._until[key] = time.monotonic() + seconds


class PasswordChecks:
    """argon2 off the event loop: `threads` checks at once in a private pool, at most
    `waiting` more queued; beyond that `run` returns None (busy) without queueing.

    The pool's threads run at a lower CPU priority (`nice`, per thread on Linux; argon2's own
    lane threads inherit it), so that a flood of logins mostly gets the CPU the opt-out pages
    and the console leave free. It also holds the process's memo of refused keys
    (`refusals`) and the bound on login counting transactions at once (`counting`)."""

    NICE = 10

    def __init__(self, threads: int = 2, waiting: int = 8, counting: int = 4) -> None:
        self.threads = threads
        self.counting = asyncio.Semaphore(counting)  # login counting transactions at once
        self.capacity = threads + waiting
        self._pool: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._typical: float | None = None  # seconds a check takes here, slot wait included
        self._measuring: asyncio.Future[bool] | None = None  # the first check, once
        self.refusals = Refusals()

    @property
    def full(self) -> bool:
        """Every slot is taken: an attempt now would be told "busy"."""
        return self._inflight >= self.capacity

    async def run(self, fn: Callable[..., T], *args: Any) -> T | None:
        if self.full:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.threads, thread_name_prefix="password-check", initializer=_lower_priority
            )
        self._inflight += 1  # one event loop thread: no race between the check and the add
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._inflight -= 1
            took = time.perf_counter() - started
            self._typical = took if self._typical is None else 0.8 * self._typical + 0.2 * took

    async def as_long_as_a_check(self) -> bool:
        """Wait as long as a password check takes here (a running average of the real ones),
        without doing one: the answer for an unknown username, so that its timing does not
        tell, and so that a flood of made-up usernames costs no argon2 at all. Until a real
        check has been timed, one measurement (a dummy hash and its check, in the pool) runs
        and every attempt meanwhile waits for that same one: a flood's first seconds start
        one, not one per attempt. False: busy."""
        if self.full:
            return False
        if self._typical is None:
            if self._measuring is None or self._measuring.done():
                self._measuring = asyncio.ensure_future(self._measure())
            return await asyncio.shield(self._measuring)
        await asyncio.sleep(self._typical)
        return True

    async def _measure(self) -> bool:
        dummy = await self.run(users.hash_password, _DUMMY)  # argon2 off the loop, too
        return dummy is not None and await self.run(users.verify_password, dummy, "-") is not None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


_DUMMY = "not-a-real-password-for-timing"


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PasswordChecks.NICE)


def throttle_key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join(("outreach/login", kind, *parts)).encode()).hexdigest()


async def recent_failures(session: AsyncSession, username: str, now: dt.datetime) -> int:
    """Failed logins of an account in the last window, from the audit trail."""
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


async def count_attempt(
    session: AsyncSession, key: str, *, now: dt.datetime, window: dt.timedelta
) -> int:
    """Add one to the counter `key` (restarting it when its window has passed); its new
    value. One statement, so concurrent attempts each see their own number."""
    return (await count_attempts(session, [key], now=now, window=window))[key][0]


async def count_attempts(
    session: AsyncSession, keys: list[str], *, now: dt.datetime, window: dt.timedelta
) -> dict[str, tuple[int, dt.datetime]]:
    """Add one to each counter in `keys`, in one atomic upsert (a login counts three): each
    key's new value and the start of its window. The statement is built once per number of
    keys; rows are written in key order, so that concurrent attempts sharing
    counters always lock them in the same order (no deadlock)."""
    ordered = sorted(set(keys))
    stmt = _count_statement(len(ordered))
    params: dict[str, Any] = {f"k{i}": k for i, k in enumerate(ordered)}
    params.update(now=now, cutoff=now - window)
    out = {}
    for key, failures, start in await session.execute(stmt, params):
        aware = start if start.tzinfo is not None else start.replace(tzinfo=now.tzinfo)
        out[key] = (int(failures), aware)
    return out


@functools.cache
def _count_statement(n: int) -> Any:
    """The upsert for `n` keys, as text: SQLAlchemy compiles a multi-row INSERT … ON CONFLICT
    anew on every execution (such statements have no cache key), which cost more than the
    round trip. The same SQL runs on PostgreSQL and SQLite (≥ 3.35: RETURNING)."""
    rows = ", ".join(f"(:k{i}, 1, :now)" for i in range(n))
    expired = "login_throttle.window_start <= :cutoff"
    sql = (
        f'INSERT INTO login_throttle ("key", failures, window_start) VALUES {rows} '
        f'ON CONFLICT ("key") DO UPDATE SET '
        f"failures = CASE WHEN {expired} THEN 1 ELSE login_throttle.failures + 1 END, "
        f"window_start = CASE WHEN {expired} THEN :now ELSE login_throttle.window_start END "
        f'RETURNING "key", failures, window_start'
    )
    return (
        text(sql)
        .bindparams(bindparam("now", type_=TS), bindparam("cutoff", type_=TS))
        .columns(key=String, failures=Integer, window_start=TS)
    )


async def _uncount(session: AsyncSession, keys: list[str]) -> None:
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(keys), LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
    )
