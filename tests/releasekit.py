"""A database as an earlier release left it: its schema (migration head of that release) and
its rows, kept in `tests/fixtures/release-<rev>.json.gz`.

`python tests/releasekit.py make 0001` wrote the 0001 file while 0001 was the head: demo
customers, a daily run, a running campaign, phone opt-outs and part of the outbox sent
(tests/opskit.py). Later releases' schema changes are then tested against real old rows:
`load()` creates the old schema with `migrate.upgrade(url, rev)`, inserts the rows through
the reflected (old) tables, and the test upgrades to head.

Values are tagged in the JSON: {"$ts": ISO UTC} for timestamps, {"$d": ISO} for dates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, insert, select, text
from sqlalchemy.engine import Connection

from outreach.db import engine as engine_mod
from outreach.db import migrate

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
SKIP = {"alembic_version", "scheduler_jobs"}


def fixture(rev: str) -> Path:
    return FIXTURES / f"release-{rev}.json.gz"


def _tag(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        v = v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)
        return {"$ts": v.isoformat()}
    if isinstance(v, dt.date):
        return {"$d": v.isoformat()}
    return v


def _untag(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1:
        if "$ts" in v:
            return dt.datetime.fromisoformat(v["$ts"])
        if "$d" in v:
            return dt.date.fromisoformat(v["$d"])
    return v


def _reflect(conn: Connection) -> list[Table]:
    md = MetaData()
    md.reflect(conn)
    return [t for t in md.sorted_tables if t.name not in SKIP]


async def dump(url: str, rev: str) -> dict[str, list[dict[str, Any]]]:
    eng = engine_mod.make_engine(url)
    try:
        async with eng.connect() as conn:
            tables = await conn.run_sync(_reflect)
            out: dict[str, list[dict[str, Any]]] = {}
            for t in tables:
                rows = (await conn.execute(select(t).order_by(*t.primary_key.columns))).mappings()
                out[t.name] = [{k: _tag(v) for k, v in r.items()} for r in rows]
    finally:
        await eng.dispose()
    return {"revision": rev, "tables": out}  # type: ignore[dict-item]


async def load(url: str, rev: str) -> dict[str, int]:
    """Create the schema of `rev` at `url` and insert that release's rows; counts by table."""
    data = json.loads(gzip.decompress(fixture(rev).read_bytes()))
    assert data["revision"] == rev
    await migrate.upgrade(url, rev)
    eng = engine_mod.make_engine(url)
    counts: dict[str, int] = {}
    try:
        async with eng.begin() as conn:
            tables = await conn.run_sync(_reflect)
            for t in tables:
                rows = [
                    {k: _untag(v) for k, v in r.items()} for r in data["tables"].get(t.name, [])
                ]
                if rows:
                    await conn.execute(insert(t), rows)
                counts[t.name] = len(rows)
                if conn.dialect.name == "postgresql" and "id" in t.c and rows:
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'),"
                            f" (SELECT max(id) FROM {t.name}))"
                        )
                    )
    finally:
        await eng.dispose()
    return counts


async def _make(rev: str) -> None:
    import tempfile

    sys.path.insert(0, str(HERE))
    from opskit import lived_in

    from outreach import bootstrap, settings
    from outreach.clock import FixedClock

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/release.sqlite3"
        await migrate.upgrade(url, rev)
        s = settings.Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            config_dir=HERE.parent / "config",
            secret_key="test-secret-key-not-for-production",
        )
        app = bootstrap.build(s, clock=FixedClock())
        try:
            await lived_in(app, Path(tmp) / "capture", customers=200)
        finally:
            await app.close()
        data = await dump(url, rev)
    FIXTURES.mkdir(exist_ok=True)
    raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    fixture(rev).write_bytes(gzip.compress(raw, mtime=0))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "make":
        raise SystemExit("usage: python tests/releasekit.py make REVISION")
    asyncio.run(_make(sys.argv[2]))
