"""Login under a flood, on both databases: the limit is exact under concurrency, the argon2
check runs off the event loop with a cap, and an attacker cannot lock the owner out."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from outreach import bootstrap
from outreach.db.models import AuditEntry
from outreach.staff import auth, users

PASSWORD = "correct horse battery"
WRONG = "wrong password!!"


async def _add(app: bootstrap.App, username: str = "alice") -> None:
    async with app.sessions() as s, s.begin():
        await users.add(
            s,
            username=username,
            password=PASSWORD,
            role="marketer",
            actor="cli",
            now=app.clock.now(),
        )


async def _audit_count(app: bootstrap.App, action: str) -> int:
    async with app.sessions() as s:
        q = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        return int(await s.scalar(q) or 0)


async def _attempt(
    app: bootstrap.App,
    checks: auth.PasswordChecks,
    password: str,
    *,
    username: str = "alice",
    remote: str = "198.51.100.7",
    delays: list[float] | None = None,
) -> auth.Login:
    async def sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    return await auth.login(
        app.sessions, checks, username, password, now=app.clock.now(), remote=remote, sleep=sleep
    )


async def test_thirty_parallel_wrong_passwords_get_exactly_the_limit_of_checks(
    app: bootstrap.App,
) -> None:
    await _add(app)
    checks = auth.PasswordChecks(threads=2, waiting=100)
    results = await asyncio.gather(*(_attempt(app, checks, WRONG) for _ in range(30)))
    reasons = sorted(r.reason or "" for r in results)
    assert reasons.count("bad_credentials") == auth.MAX_FAILURES, reasons
    assert reasons.count("rate_limited") == 30 - auth.MAX_FAILURES, reasons
    # every attempt is in the trail: each checked one as failed, the others as limited
    assert await _audit_count(app, "login.failed") == auth.MAX_FAILURES
    assert await _audit_count(app, "login.limited") == 30 - auth.MAX_FAILURES


async def test_the_owner_at_another_address_still_gets_in(app: bootstrap.App) -> None:
    await _add(app)
    checks = auth.PasswordChecks()
    for _ in range(auth.MAX_FAILURES + 3):
        await _attempt(app, checks, WRONG, remote="203.0.113.66")
    attacker = await _attempt(app, checks, PASSWORD, remote="203.0.113.66")
    assert attacker.reason == "rate_limited"  # even the right password, from that address
    owner = await _attempt(app, checks, PASSWORD, remote="192.0.2.10")
    assert owner.ok and owner.token


async def test_many_addresses_slow_an_account_down_but_never_lock_it(app: bootstrap.App) -> None:
    await _add(app)
    checks = auth.PasswordChecks()
    policy = auth.LoginPolicy()
    for i in range(policy.account_slowdown_after + 4):  # a distributed guess at one account
        r = await _attempt(app, checks, WRONG, remote=f"203.0.113.{i}")
        assert r.reason == "bad_credentials"
    delays: list[float] = []
    owner = await _attempt(app, checks, PASSWORD, remote="192.0.2.10", delays=delays)
    assert owner.ok
    assert delays and 0 < delays[0] <= policy.slowdown_max  # slowed, not refused


async def test_one_address_guessing_many_accounts_is_refused(app: bootstrap.App) -> None:
    await _add(app)
    checks = auth.PasswordChecks()
    policy = auth.LoginPolicy()
    for i in range(policy.per_address):
        r = await _attempt(app, checks, WRONG, username=f"guess{i}", remote="203.0.113.9")
        assert r.reason == "bad_credentials"
    r = await _attempt(app, checks, PASSWORD, remote="203.0.113.9")
    assert r.reason == "rate_limited"
    assert (await _attempt(app, checks, PASSWORD, remote="192.0.2.10")).ok


async def test_a_good_login_clears_its_own_failures(app: bootstrap.App) -> None:
    await _add(app)
    checks = auth.PasswordChecks()
    for _ in range(auth.MAX_FAILURES - 1):
        await _attempt(app, checks, WRONG)
    assert (await _attempt(app, checks, PASSWORD)).ok
    for _ in range(auth.MAX_FAILURES - 1):  # a fresh allowance after the owner logged in
        assert (await _attempt(app, checks, WRONG)).reason == "bad_credentials"
    assert (await _attempt(app, checks, PASSWORD)).ok


async def test_the_password_check_runs_off_the_event_loop(app: bootstrap.App) -> None:
    await _add(app)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = users.verify_password

    niceness: list[int] = []

    def verify(password_hash: str, password: str) -> bool:
        seen.append(threading.get_ident())
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return original(password_hash, password)

    checks = auth.PasswordChecks()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick = asyncio.create_task(ticker())
    try:
        assert await checks.run(verify, users.hash_password(PASSWORD), PASSWORD)
        ticks_during_check = ticks
    finally:
        tick.cancel()
    assert seen and loop_thread not in seen
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert len(niceness) == 1 and niceness[0] >= min(auth.PasswordChecks.NICE, base + 1)
    assert ticks_during_check > 0  # the loop kept running other work while argon2 ran


async def test_checks_beyond_the_cap_are_refused_as_busy_at_once(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _add(app)
    checks = auth.PasswordChecks(threads=1, waiting=1)
    # the two checks that get a slot hold it until the other four were answered, so the
    # outcome does not depend on how fast argon2 runs on a loaded machine
    release = threading.Event()
    original = users.verify_password

    def held(password_hash: str, password: str) -> bool:
        release.wait(30)
        return original(password_hash, password)

    monkeypatch.setattr(users, "verify_password", held)
    tasks = [
        asyncio.ensure_future(_attempt(app, checks, WRONG, remote=f"192.0.2.{i}")) for i in range(6)
    ]
    for _ in range(3000):
        if sum(t.done() for t in tasks) >= 4:
            break
        await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*tasks)
    monkeypatch.setattr(users, "verify_password", original)
    reasons = [r.reason for r in results]
    assert reasons.count("busy") == 4, reasons
    assert reasons.count("bad_credentials") == 2, reasons
    # a busy answer is not a failure of the account: the owner's allowance is intact
    assert await _audit_count(app, "login.failed") == 2
    for _ in range(auth.MAX_FAILURES - 1):
        assert (await _attempt(app, checks, WRONG, remote="192.0.2.0")).reason == "bad_credentials"


async def test_counters_of_past_windows_are_pruned(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.clock import FixedClock
    from outreach.db.models import LoginThrottle

    checks = auth.PasswordChecks()
    await _attempt(app, checks, WRONG, username="ghost1")
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(auth.FAILURE_WINDOW + dt.timedelta(seconds=1))
    monkeypatch.setattr(auth, "PRUNE_EVERY", 1)  # prune on this attempt
    await _attempt(app, checks, WRONG, username="ghost2")
    async with app.sessions() as s:
        rows = int(await s.scalar(select(func.count()).select_from(LoginThrottle)) or 0)
    assert rows == 3  # only ghost2's three counters; ghost1's expired ones are gone


async def test_a_refused_key_is_answered_from_memory_without_the_database(
    app: bootstrap.App,
) -> None:
    """Once the shared counter found an address over its limit, the process refuses it until
    the window ends without a database round trip (a flood's attempts cost no writes)."""
    await _add(app)
    checks = auth.PasswordChecks()
    for _ in range(auth.MAX_FAILURES):
        assert (await _attempt(app, checks, WRONG)).reason == "bad_credentials"
    assert (await _attempt(app, checks, WRONG)).reason == "rate_limited"  # counted in the DB
    assert await _audit_count(app, "login.limited") == 1

    def no_database() -> None:
        raise AssertionError("the database was asked")

    for _ in range(50):
        r = await auth.login(
            no_database,  # type: ignore[arg-type]
            checks,
            "alice",
            PASSWORD,
            now=app.clock.now(),
            remote="198.51.100.7",
            sleep=_no_sleep,
        )
        assert r.reason == "rate_limited"
    assert checks.refusals.answered == 50
    assert await _audit_count(app, "login.limited") == 1  # the flood did not fill the trail
    # the owner elsewhere is not in the memo
    assert (await _attempt(app, checks, PASSWORD, remote="192.0.2.10")).ok


async def _no_sleep(seconds: float) -> None:
    return None


async def _timed_attempt(
    app: bootstrap.App, checks: auth.PasswordChecks, password: str, **kw: Any
) -> tuple[auth.Login, float, list[float]]:
    """An attempt, the time it took before its last sleep, and its sleeps (not slept)."""
    delays: list[float] = []
    t0 = time.monotonic()
    r = await _attempt(app, checks, password, delays=delays, **kw)
    return r, time.monotonic() - t0, delays


async def test_every_failure_leaves_a_failure_delay_after_it_arrived(app: bootstrap.App) -> None:
    """A flood is a closed loop: every failed attempt, whatever its reason, is answered
    `failure_delay` (plus a random part of up to `failure_jitter` of it) after it arrived,
    so one connection gets about one attempt per second and the answer's timing tells
    nothing; a successful login does not wait."""
    await _add(app)
    checks = auth.PasswordChecks(threads=1, waiting=0)
    policy = auth.LoginPolicy()
    most = policy.failure_delay * (1 + policy.failure_jitter)

    def answered_at(took: float, delays: list[float]) -> float:
        assert len(delays) == 1, delays  # one wait, at the end
        return took + delays[0]

    spread = []
    for i in range(auth.MAX_FAILURES + 2):  # checked and wrong, then limited (the memo)
        r, took, delays = await _timed_attempt(app, checks, WRONG)
        assert r.reason == ("bad_credentials" if i < auth.MAX_FAILURES else "rate_limited")
        at = answered_at(took, delays)
        assert policy.failure_delay <= at <= most + 0.05, (r.reason, took, delays)
        spread.append(at)
    assert len({round(x, 3) for x in spread}) > 1  # jittered: the waves drift apart
    r, took, delays = await _timed_attempt(app, checks, WRONG, username="ghost", remote="192.0.2.9")
    assert r.reason == "bad_credentials"  # no such account: the same time as a wrong password
    assert policy.failure_delay <= answered_at(took, delays) <= most + 0.05

    gate = threading.Event()
    blocker = asyncio.ensure_future(checks.run(gate.wait))  # the one slot is taken
    await asyncio.sleep(0.05)
    try:
        r, took, busy = await _timed_attempt(app, checks, WRONG, remote="192.0.2.44")
    finally:
        gate.set()
        await blocker
    assert r.reason == "busy" and policy.failure_delay <= answered_at(took, busy) <= most + 0.05
    r, _, delays = await _timed_attempt(app, checks, PASSWORD, remote="192.0.2.45")
    assert r.ok and delays == []


async def test_a_wave_of_attempts_takes_no_more_than_the_counting_bound_of_connections(
    app: bootstrap.App,
) -> None:
    """A hundred attempts at once hold at most `counting` pooled connections: the rest wait
    in memory (the opt-out pages keep theirs, and no connection is opened for the wave)."""
    checks = auth.PasswordChecks(threads=2, waiting=200, counting=3)
    pool = app.engine.sync_engine.pool
    most = [0]
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            most[0] = max(most[0], pool.checkedout())  # type: ignore[attr-defined]
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    results = await asyncio.gather(
        *(
            _attempt(app, checks, WRONG, username=f"ghost{i}", remote=f"192.0.2.{i}", delays=[])
            for i in range(100)
        )
    )
    done.set()
    await watcher
    assert {r.reason for r in results} == {"bad_credentials"}
    assert 1 <= most[0] <= 3, most[0]


def test_the_memo_forgets_a_key_when_its_window_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    memo = auth.Refusals(capacity=2)
    memo.remember("a", 10.0)
    assert memo.refused("a") and not memo.refused("b")
    now[0] += 10.5
    assert not memo.refused("a")  # its window ended: back to the shared counter
    memo.remember("b", 5.0)
    memo.remember("c", 5.0)
    memo.remember("d", 5.0)  # over capacity: the oldest goes, never unbounded
    assert not memo.refused("b") and memo.refused("c") and memo.refused("d")
    memo.remember("e", 0.0)  # a window already over is not remembered
    assert not memo.refused("e")


async def test_busy_is_answered_before_the_database_is_asked(app: bootstrap.App) -> None:
    """With every check slot taken, an attempt is told "busy" without a counter write."""
    checks = auth.PasswordChecks(threads=1, waiting=0)
    gate = threading.Event()
    blocker = asyncio.ensure_future(checks.run(gate.wait))
    await asyncio.sleep(0.05)

    def no_database() -> None:
        raise AssertionError("the database was asked")

    try:
        r = await auth.login(
            no_database,  # type: ignore[arg-type]
            checks,
            "alice",
            PASSWORD,
            now=app.clock.now(),
            remote="192.0.2.45",
            sleep=_no_sleep,
        )
    finally:
        gate.set()
        await blocker
    assert r.reason == "busy"


async def test_an_unknown_username_waits_as_long_as_a_check_without_one(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made-up usernames (the usual flood) cost no argon2, yet take as long as a real check,
    so the timing does not tell which accounts exist."""

    await _add(app)
    calls: list[str] = []
    original = users.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return original(password_hash, password)

    monkeypatch.setattr(users, "verify_password", counting)
    checks = auth.PasswordChecks()
    t0 = time.perf_counter()
    assert (await _attempt(app, checks, WRONG, remote="192.0.2.50")).reason == "bad_credentials"
    real = time.perf_counter() - t0
    assert calls == [WRONG]
    for i in range(5):
        t0 = time.perf_counter()
        r = await _attempt(app, checks, WRONG, username=f"ghost{i}", remote=f"192.0.2.{60 + i}")
        assert r.reason == "bad_credentials"
        assert time.perf_counter() - t0 >= 0.5 * real  # never answered early
    assert calls == [WRONG]  # no check was run for the made-up names
    assert await _audit_count(app, "login.failed") == 6  # each is still a recorded failure


async def test_a_burst_of_unknown_usernames_times_one_check_off_the_event_loop(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any real check was timed, 30 parallel made-up usernames start one measurement
    (a hash and its check, in the pool), not one each, and the event loop keeps running."""
    calls: list[str] = []
    loop_thread = threading.get_ident()
    original_hash, original_verify = users.hash_password, users.verify_password

    def hashing(password: str) -> str:
        assert threading.get_ident() != loop_thread  # never on the event loop
        calls.append("hash")
        return original_hash(password)

    def verifying(password_hash: str, password: str) -> bool:
        assert threading.get_ident() != loop_thread
        calls.append("verify")
        return original_verify(password_hash, password)

    monkeypatch.setattr(users, "hash_password", hashing)
    monkeypatch.setattr(users, "verify_password", verifying)
    checks = auth.PasswordChecks()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.ensure_future(ticker())
    t0 = time.perf_counter()
    try:
        results = await asyncio.gather(
            *(
                _attempt(app, checks, WRONG, username=f"ghost{i}", remote=f"192.0.2.{100 + i}")
                for i in range(30)
            )
        )
    finally:
        tick.cancel()
    took = time.perf_counter() - t0
    assert [r.reason for r in results] == ["bad_credentials"] * 30
    assert calls == ["hash", "verify"]  # one measurement for all thirty
    assert ticks >= 0.3 * took / 0.01  # the loop was not blocked by the hashing
