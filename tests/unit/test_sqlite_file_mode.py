"""The SQLite database holds every customer: created readable by its owner only (600), like
the key file, and SQLite's -wal and -shm files follow the database file's mode; and every
commit is synced to disk before it returns (an opt-out must survive a power cut)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from outreach.db import engine as engine_mod


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_a_new_sqlite_file_and_its_wal_are_mode_600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would give 644
    try:
        path = tmp_path / "data" / "outreach.sqlite3"
        eng = engine_mod.make_engine(f"sqlite:///{path}")
        async with eng.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            assert _mode(Path(f"{path}-wal")) == 0o600
        await eng.dispose()
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600


async def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "kept.sqlite3"
    path.touch(mode=0o640)
    path.chmod(0o640)
    eng = engine_mod.make_engine(f"sqlite:///{path}")
    async with eng.connect() as conn:
        await conn.execute(text("SELECT 1"))
    await eng.dispose()
    assert path.stat().st_mode & 0o777 == 0o640


async def test_every_connection_syncs_each_commit_to_disk(tmp_path: Path) -> None:
    # WAL with synchronous=FULL (2): NORMAL (1) would let a power cut take back a committed
    # opt-out. Asked on two connections of the pool: the setting is per connection.
    eng = engine_mod.make_engine(f"sqlite:///{tmp_path / 'durable.sqlite3'}")
    try:
        async with eng.connect() as a, eng.connect() as b:
            for conn in (a, b):
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
                assert (await conn.execute(text("PRAGMA synchronous"))).scalar_one() == 2
    finally:
        await eng.dispose()
