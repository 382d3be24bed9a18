"""`outreach user add|list|deactivate`: staff accounts (the first admin is made here)."""

from __future__ import annotations

import os
from typing import Any

import click

from outreach import bootstrap, labels
from outreach.cli import common
from outreach.errors import InputRejected
from outreach.staff import auth, roles, users

PASSWORD_ENV = "OUTREACH_NEW_PASSWORD"  # noqa: S105 - a variable name, not a secret


@click.group("user")
def user_group() -> None:
    """Staff accounts of the console (roles: marketer, approver, admin)."""


@user_group.command("add")
@click.option("--username", required=True, help="Login name (a-z, 0-9, . _ -).")
@click.option("--role", required=True, type=click.Choice(roles.ROLES), help="Role of the account.")
@click.option("--display-name", default=None, help="Name shown in the console (Japanese ok).")
@click.option("--email", default=None, help="Staff e-mail address (for test sends).")
@common.json_option
def add(
    username: str, role: str, display_name: str | None, email: str | None, as_json: bool
) -> None:
    """Create a staff account. The password is read from OUTREACH_NEW_PASSWORD or prompted."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = click.prompt("パスワード", hide_input=True, confirmation_prompt=True, err=True)

    async def _go(app: bootstrap.App) -> dict[str, Any]:
        async with app.sessions() as s, s.begin():
            u = await users.add(
                s,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                email=email,
                actor=f"cli:{os.environ.get('USER', '?')}",
                now=app.clock.now(),
            )
            return {"id": u.id, "username": u.username, "role": u.role}

    data = common.run_app(_go)
    common.emit(
        data,
        as_json,
        lambda d: click.echo(
            f"ユーザー {d['username']}（{labels.label('role', d['role'])}）を作成しました"
        ),
    )


@user_group.command("list")
@common.json_option
def list_(as_json: bool) -> None:
    """List staff accounts."""

    async def _go(app: bootstrap.App) -> list[dict[str, Any]]:
        async with app.sessions() as s:
            return [
                {
                    "id": u.id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "active": u.active,
                    "last_login_at": u.last_login_at,
                }
                for u in await users.all_users(s)
            ]

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            state = "" if r["active"] else " (無効)"
            click.echo(
                f"{r['id']:>4} {r['username']:<20} {labels.label('role', r['role'])}"
                f" {r['display_name']}{state}"
            )

    common.emit(common.run_app(_go), as_json, human)


@user_group.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Disable an account and end its sessions."""

    async def _go(app: bootstrap.App) -> None:
        async with app.sessions() as s, s.begin():
            u = await users.by_username(s, username)
            if u is None:
                raise InputRejected(f"ユーザー {username} はいません")
            now = app.clock.now()
            await users.set_active(s, u, False, actor=f"cli:{os.environ.get('USER', '?')}", now=now)
            await auth.revoke_all(s, u.id, now=now)

    common.run_app(_go)
    click.echo(f"ユーザー {username} を無効にしました")


def register(cli: click.Group) -> None:
    cli.add_command(user_group)
