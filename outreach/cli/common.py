"""Shared CLI plumbing: running async services, one-line errors, --json output."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError, OperationalError

from outreach import bootstrap
from outreach.errors import DatabaseUnavailable, OutreachError

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    """Click callback for a date option: ISO, YYYY/MM/DD or 和暦 (R7.3.31, 令和7年3月31日)."""
    if value is None:
        return None
    from outreach.records import wareki

    try:
        return wareki.parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def plain_text(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: refuse control characters in a free-text option (the import's check)."""
    from outreach.records import validate

    if value is not None:
        try:
            validate.refuse_controls(value, allow="\t")
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


def run_app(
    fn: Callable[[bootstrap.App], Awaitable[T]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Build the App, run `fn` on it, close it; expected failures become one line.
    `loop_factory`: the event loop to run on (default: asyncio's)."""

    async def _go() -> T:
        app = bootstrap.build()
        try:
            return await fn(app)
        finally:
            await app.close()

    return run(_go, loop_factory=loop_factory)


_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def run(
    fn: Callable[[], Awaitable[T]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_call(fn))
    except OutreachError as e:
        raise Failure(str(e), e.exit_code) from None
    except OSError as e:
        if e.errno in _DISK_ERRORS:  # a full or read-only disk, not the database
            where = f" ({e.filename})" if e.filename else ""
            raise Failure(f"cannot write to disk: {e.strerror}{where}", 2) from None
        raise Failure(describe_db_error(e), DatabaseUnavailable.exit_code) from None
    except (OperationalError, DBAPIError) as e:
        raise Failure(describe_db_error(e), DatabaseUnavailable.exit_code) from None


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


class Failure(click.ClickException):
    """One line on stderr and the documented exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it for the exit status

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def describe_db_error(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    text = (str(orig).strip().splitlines() or [repr(orig)])[0]
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "database is not initialised: run `outreach init`"
    return f"database unavailable: {text}"


def delivery_line(d: dict[str, Any]) -> str:
    """A worker's or the demo's send report in words (no internal counters)."""
    failed = d.get("perm_fail", 0) + d.get("hard_bounce", 0)
    stopped = d.get("denied", 0) + d.get("suppressed", 0)
    return (
        f"送信 {d.get('sent', 0):,} 件、再試行待ち {d.get('temp_fail', 0):,} 件、"
        f"失敗 {failed:,} 件、送信時に停止 {stopped:,} 件、延期 {d.get('deferred', 0):,} 件"
        f"（取り出し {d.get('claimed', 0):,} 件）"
    )


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        human(data)
