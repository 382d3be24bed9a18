"""`outreach init` and `outreach db upgrade|downgrade`."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from outreach import bootstrap
from outreach.cli import common
from outreach.db import migrate
from outreach.errors import DatabaseUnavailable


async def initialise(app: bootstrap.App) -> str:
    """Create or upgrade the database and generate the secret key if none is configured."""
    app.settings.ensure_secret()
    url = app.settings.resolved_database_url
    await _migrate(migrate.upgrade, url, "head")
    return url


async def _migrate(step: object, url: str, revision: str) -> None:
    try:
        await step(url, revision)  # type: ignore[operator]
    except Exception as e:
        raise DatabaseUnavailable(common.describe_db_error(e)) from e


@click.command("init")
@common.json_option
def init(as_json: bool) -> None:
    """Create or upgrade the database (a SQLite file by default) and the secret key."""
    url = common.run_app(initialise)
    common.emit(
        {"database": safe_url(url), "status": "ok"},
        as_json,
        lambda d: click.echo(f"データベースの準備ができました: {d['database']}"),
    )


@click.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default head)."""

    async def _go(app: bootstrap.App) -> None:
        await _migrate(migrate.upgrade, app.settings.resolved_database_url, revision)

    common.run_app(_go)
    click.echo(f"upgraded to {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' empties the database)."""

    async def _go(app: bootstrap.App) -> None:
        await _migrate(migrate.downgrade, app.settings.resolved_database_url, revision)

    common.run_app(_go)
    click.echo(f"downgraded to {revision}")


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def register(cli: click.Group) -> None:
    cli.add_command(init)
    cli.add_command(db_group)
