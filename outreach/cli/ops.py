"""`outreach backup` and `outreach restore`: the whole database to one file and back.

- SQLite: SQLite's online backup API (a consistent copy while `serve` and workers run;
  WAL included), checked with `PRAGMA integrity_check`.
- PostgreSQL: `pg_dump --format=custom` (consistent: one snapshot), restored with
  `pg_restore`. Both must be the server's major version or newer (Debian:
  `postgresql-client`). The password goes to them in PGPASSWORD, never on the command line.

Files are created with mode 600 (they hold every customer's data) and never overwritten.
A restore goes into an empty database (`--force` replaces a non-empty one); after it run
`outreach db upgrade` (a backup from an earlier release) and `outreach consent verify`.
Stop `serve` and the workers before a restore; start them after. A message that was
'sending' in the backup is sent again after its lease (at least once, docs/delivery.md).

Exit codes: 0 ok, 2 usage or configuration error (a file in the way, no pg_dump, a
database that refuses), always one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import URL, make_url

from outreach import settings as settings_mod
from outreach.cli import common


def _url(settings: settings_mod.Settings) -> URL:
    try:
        return make_url(settings.resolved_database_url)
    except Exception as e:
        raise common.Failure(f"invalid database URL: {e}") from None


def _default_path(settings: settings_mod.Settings, suffix: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "backups" / f"outreach-{stamp}{suffix}"


def _create_private(path: Path) -> None:
    """An empty file only we can read; refuses to replace anything (or follow a link)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise common.Failure(f"{path}: already exists; choose another file") from None
    except OSError as e:
        raise common.Failure(f"{path}: cannot create: {e.strerror}") from None
    os.close(fd)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise common.Failure(f"{name} not found: install postgresql-client (Debian)")
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    # argv: a tool found on PATH and our own options; no shell.
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[0]
        raise common.Failure(f"{Path(argv[0]).name} failed: {first}")


def sqlite_copy(src: Path, dst: Path) -> None:
    """SQLite's online backup API from `src` into `dst`, then an integrity check of `dst`."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            (verdict,) = target.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise common.Failure(f"{dst}: integrity check failed: {verdict}")
        finally:
            target.close()
    finally:
        source.close()


def _sqlite_tables(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        )


@click.command("backup")
@click.option(
    "--to",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The backup file (default: DATA_DIR/backups/outreach-<UTC time>.sqlite3 or .dump).",
)
@common.json_option
def backup(target: Path | None, as_json: bool) -> None:
    """Back up the whole database into one file (mode 600), while the service runs."""
    settings = settings_mod.load()
    url = _url(settings)
    if url.get_backend_name() == "sqlite":
        src = Path(url.database or "")
        if not url.database or not src.exists():
            raise common.Failure(f"no SQLite database at {src}: run `outreach init`")
        path = target or _default_path(settings, ".sqlite3")
        _create_private(path)
        try:
            sqlite_copy(src, path)
        except sqlite3.Error as e:
            path.unlink(missing_ok=True)
            raise common.Failure(f"backup failed: {e}") from None
        except common.Failure:
            path.unlink(missing_ok=True)
            raise
        method = "sqlite online backup"
    elif url.get_backend_name() == "postgresql":
        pg_dump = _tool("pg_dump")
        path = target or _default_path(settings, ".dump")
        _create_private(path)
        dsn, env = _libpq(url)
        try:
            _run([pg_dump, "--format=custom", "--no-owner", f"--file={path}", dsn], env)
        except common.Failure:
            path.unlink(missing_ok=True)
            raise
        method = "pg_dump --format=custom"
    else:
        raise common.Failure(f"unsupported database {url.get_backend_name()!r}")
    out: dict[str, Any] = {"file": str(path), "bytes": path.stat().st_size, "method": method}
    common.emit(
        out, as_json, lambda d: click.echo(f"バックアップ: {d['file']} ({d['bytes']:,} バイト)")
    )


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds tables.")
@common.json_option
def restore(source: Path, force: bool, as_json: bool) -> None:
    """Restore a backup into the configured database (stop serve and workers first).

    Then run `outreach db upgrade` and `outreach consent verify`."""
    settings = settings_mod.load()
    url = _url(settings)
    if url.get_backend_name() == "sqlite":
        db = Path(url.database or "")
        if not url.database:
            raise common.Failure("restore needs a SQLite file, not an in-memory database")
        if _sqlite_tables(db) and not force:
            raise common.Failure(f"{db} already holds a database: use --force to replace it")
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as probe:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            raise common.Failure(f"{source}: not a SQLite backup") from None
        if not db.exists():
            _create_private(db)
        try:
            sqlite_copy(source, db)
        except sqlite3.Error as e:
            raise common.Failure(f"restore failed: {e}") from None
    elif url.get_backend_name() == "postgresql":
        pg_restore = _tool("pg_restore")
        dsn, env = _libpq(url)
        argv = [pg_restore, "--no-owner", "--exit-on-error", f"--dbname={dsn}"]
        if force:
            argv += ["--clean", "--if-exists"]
        elif _pg_has_tables(dsn, env):
            raise common.Failure("the database already holds tables: use --force to replace them")
        _run([*argv, str(source)], env)
    else:
        raise common.Failure(f"unsupported database {url.get_backend_name()!r}")
    out = {"restored": str(source), "next": ["outreach db upgrade", "outreach consent verify"]}
    common.emit(
        out,
        as_json,
        lambda d: click.echo(
            f"復元しました: {d['restored']}。続けて `outreach db upgrade` と "
            "`outreach consent verify` を実行してください"
        ),
    )


def _pg_has_tables(dsn: str, env: dict[str, str]) -> bool:
    psql = _tool("psql")
    proc = subprocess.run(  # noqa: S603 (psql from PATH, our own query; no shell)
        [
            psql,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            f"--dbname={dsn}",
            "--command=SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["psql failed"])[0]
        raise common.Failure(f"database unavailable: {first}")
    return int(proc.stdout.strip() or 0) > 0


def register(cli: click.Group) -> None:
    cli.add_command(backup)
    cli.add_command(restore)
