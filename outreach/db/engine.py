"""Building the async engine from a URL; the one place that knows driver names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from outreach.errors import ConfigError


def async_url(url: str) -> URL:
    """Map plain URLs onto the async drivers: sqlite → aiosqlite, postgresql → asyncpg."""
    try:
        u = make_url(url)
    except Exception as e:  # sqlalchemy.exc.ArgumentError and friends
        raise ConfigError(f"invalid database URL: {e}") from e
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return u.set(drivername="postgresql+asyncpg")
    raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def sync_url(url: str) -> URL:
    """The same database through a sync driver (APScheduler's job store needs one)."""
    u = async_url(url)
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite")
    return u.set(drivername="postgresql+psycopg")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # synchronous=FULL: a commit is on disk when it returns (the WAL is synced at every
    # commit). With NORMAL a power cut or an OS crash can take back the last commits, and
    # they are legal records: an opt-out the customer was told is done, a consent, the
    # attempt that says a message left. The worker commits twice a batch; an fsync costs
    # well under a millisecond on the development machines.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _create_private(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by the owner only, before SQLite
    does with the umask's 644: it holds every customer's record. SQLite gives its -wal and
    -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return  # an existing database keeps the mode its owner gave it
    os.close(fd)


def make_engine(url: str, *, echo: bool = False, pre_ping: bool = False) -> AsyncEngine:
    """The async engine. PostgreSQL connections are recycled after 30 minutes; a connection
    that fails with a disconnect error is dropped by the pool. `pre_ping` adds a round trip
    per checkout (it halved the one-click opt-out throughput): turn it on only where
    something between us and the server kills idle connections silently.

    `hide_parameters`: a database error's text (which reaches the logs) shows the SQL but
    never the bound values, which are customers' names, addresses and tokens."""
    u = async_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            _create_private(Path(u.database))
        engine = create_async_engine(u, echo=echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        u,
        echo=echo,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args={"timeout": 10},
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
