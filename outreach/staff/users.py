"""Staff accounts: argon2id password hashes, roles, creation and (de)activation."""

from __future__ import annotations

import datetime as dt
import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import StaffUser
from outreach.errors import InputRejected
from outreach.records import validate
from outreach.staff import audit, roles
from outreach.staff.errors import Conflict, Invalid, Problem

MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def check_new(username: str, password: str, role: str) -> list[Problem]:
    problems: list[Problem] = []
    if not USERNAME.match(username):
        problems.append(
            Problem("username", "ユーザー名は英小文字・数字・._- の2〜64文字で指定してください")
        )
    if role not in roles.ROLES:
        problems.append(Problem("role", f"役割は {', '.join(roles.ROLES)} のいずれかです"))
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            Problem("password", f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください")
        )
    elif password.lower() == username.lower() or len(set(password)) < 4:
        problems.append(Problem("password", "推測されやすいパスワードは使えません"))
    return problems


async def add(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    actor: str,
    now: dt.datetime,
    display_name: str | None = None,
    email: str | None = None,
) -> StaffUser:
    """Create a staff account (audited). Raises Invalid or Conflict; writes nothing then."""
    problems = check_new(username, password, role)
    for name, value in (("display_name", display_name), ("email", email)):
        if value is not None and validate.control_character(value) is not None:
            problems.append(Problem(name, "使えない制御文字が含まれています"))
    if problems:
        raise Invalid(problems)
    if await by_username(session, username) is not None:
        raise Conflict(f"ユーザー {username} は既に存在します")
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="user.add",
        entity="staff_user",
        entity_id=user.id,
        now=now,
        after={"username": username, "role": role, "display_name": user.display_name},
    )
    return user


async def set_active(
    session: AsyncSession, user: StaffUser, active: bool, *, actor: str, now: dt.datetime
) -> None:
    before = {"active": user.active}
    user.active = active
    await audit.record(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        entity="staff_user",
        entity_id=user.id,
        now=now,
        before=before,
        after={"active": active},
    )


async def by_username(session: AsyncSession, username: str) -> StaffUser | None:
    return await session.scalar(select(StaffUser).where(StaffUser.username == username))


async def acting(session: AsyncSession, username: str) -> StaffUser:
    """The active staff member a command acts as (`--as`), else InputRejected."""
    u = await by_username(session, username)
    if u is None or not u.active:
        raise InputRejected(f"有効なスタッフユーザー {username} はいません")
    return u


async def display_names(session: AsyncSession) -> dict[str, str]:
    """username → display name, for showing people rather than account names."""
    rows = await session.execute(select(StaffUser.username, StaffUser.display_name))
    return {u: d or u for u, d in rows.all()}


async def password_of(session: AsyncSession, username: str) -> tuple[str, bool] | None:
    """(password hash, active) of an account, or None: what a login checks first."""
    row = (
        await session.execute(
            select(StaffUser.password_hash, StaffUser.active).where(StaffUser.username == username)
        )
    ).first()
    return None if row is None else (row[0], bool(row[1]))


async def all_users(session: AsyncSession) -> list[StaffUser]:
    return list((await session.scalars(select(StaffUser).order_by(StaffUser.id))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(StaffUser)) or 0)
