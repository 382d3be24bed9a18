"""Staff accounts and sessions on both databases: argon2 hashes, login, rate limit, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from outreach import bootstrap
from outreach.clock import FixedClock
from outreach.db.models import AuditEntry, StaffSession
from outreach.staff import auth, users
from outreach.staff.errors import Conflict, Invalid

PASSWORD = "correct horse battery"


async def _add(app: bootstrap.App, username: str = "alice", role: str = "marketer") -> None:
    async with app.sessions() as s, s.begin():
        await users.add(
            s, username=username, password=PASSWORD, role=role, actor="cli", now=app.clock.now()
        )


async def _login(
    app: bootstrap.App,
    password: str = PASSWORD,
    *,
    remote: str = "127.0.0.1",
    checks: auth.PasswordChecks | None = None,
) -> auth.Login:
    return await auth.login(
        app.sessions,
        checks or auth.PasswordChecks(),
        "alice",
        password,
        now=app.clock.now(),
        remote=remote,
        sleep=_no_wait,  # the failure delay has its own tests (test_login_hardening.py)
    )


async def _no_wait(seconds: float) -> None:
    return None


async def test_password_is_stored_as_argon2id_and_the_addition_is_audited(
    app: bootstrap.App,
) -> None:
    await _add(app)
    async with app.sessions() as s:
        user = await users.by_username(s, "alice")
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert users.verify_password(user.password_hash, PASSWORD)
        assert not users.verify_password(user.password_hash, PASSWORD + "x")
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "user.add"))).all()
        assert [(r.actor, r.after and r.after["role"]) for r in rows] == [("cli", "marketer")]


async def test_duplicate_user_weak_password_and_unknown_role_are_refused(
    app: bootstrap.App,
) -> None:
    await _add(app)
    with pytest.raises(Conflict):
        await _add(app)
    async with app.sessions() as s:
        with pytest.raises(Invalid) as e:
            await users.add(
                s, username="Bob!", password="short", role="root", actor="cli", now=app.clock.now()
            )
        assert {p.field for p in e.value.problems} == {"username", "password", "role"}
        assert await users.count(s) == 1


async def test_login_opens_a_session_that_authenticates(app: bootstrap.App) -> None:
    await _add(app)
    result = await _login(app)
    assert result.ok and result.token and result.principal
    async with app.sessions() as s, s.begin():
        p = await auth.authenticate(s, result.token, now=app.clock.now())
        assert p is not None and p.username == "alice" and p.role == "marketer"
        stored = (await s.scalars(select(StaffSession.token_hash))).all()
        assert result.token not in stored  # only the hash is kept
        assert await auth.authenticate(s, result.token + "x", now=app.clock.now()) is None
        assert await auth.authenticate(s, None, now=app.clock.now()) is None


async def test_wrong_password_fails_and_is_audited(app: bootstrap.App) -> None:
    await _add(app)
    result = await _login(app, "wrong password!!")
    assert not result.ok and result.reason == "bad_credentials" and result.token is None
    async with app.sessions() as s:
        assert await auth.recent_failures(s, "alice", app.clock.now()) == 1


async def test_login_is_rate_limited_after_repeated_failures(
    app: bootstrap.App, clock: FixedClock
) -> None:
    await _add(app)
    for _ in range(auth.MAX_FAILURES):
        assert (await _login(app, "wrong password!!")).reason == "bad_credentials"
    limited = await _login(app)  # even the right password is refused now
    assert not limited.ok and limited.reason == "rate_limited"
    clock.advance(auth.FAILURE_WINDOW + dt.timedelta(seconds=1))
    assert (await _login(app)).ok


async def test_sessions_expire_when_idle_and_after_their_lifetime(
    app: bootstrap.App, clock: FixedClock
) -> None:
    await _add(app)
    token = (await _login(app)).token
    clock.advance(auth.IDLE_TIMEOUT - dt.timedelta(minutes=1))
    async with app.sessions() as s, s.begin():
        assert await auth.authenticate(s, token, now=clock.now()) is not None  # touches it
    clock.advance(auth.IDLE_TIMEOUT + dt.timedelta(seconds=1))
    async with app.sessions() as s:
        assert await auth.authenticate(s, token, now=clock.now()) is None

    token = (await _login(app)).token
    for _ in range(int(auth.SESSION_LIFETIME / dt.timedelta(minutes=20)) + 1):
        clock.advance(dt.timedelta(minutes=20))
        async with app.sessions() as s, s.begin():
            live = await auth.authenticate(s, token, now=clock.now())
    assert live is None  # kept busy, yet the absolute lifetime ended it


async def test_logout_and_deactivation_end_sessions(app: bootstrap.App) -> None:
    await _add(app)
    first, second = (await _login(app)).token, (await _login(app)).token
    async with app.sessions() as s, s.begin():
        p = await auth.authenticate(s, first, now=app.clock.now())
        assert p is not None
        await auth.logout(s, p, now=app.clock.now())
    async with app.sessions() as s, s.begin():
        assert await auth.authenticate(s, first, now=app.clock.now()) is None
        assert await auth.authenticate(s, second, now=app.clock.now()) is not None
        user = await users.by_username(s, "alice")
        assert user is not None
        await users.set_active(s, user, False, actor="admin", now=app.clock.now())
    async with app.sessions() as s:
        assert await auth.authenticate(s, second, now=app.clock.now()) is None
    assert not (await _login(app)).ok
