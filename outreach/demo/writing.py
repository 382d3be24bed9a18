"""Writing the demo data: stores, first free ids, batched inserts per table, sequences."""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Date, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outreach.db import models
from outreach.demo import lists as L
from outreach.demo.base import BATCH, CURRENT_NOTICE, NEW_PURPOSE, TABLES, Batch, Start
from outreach.demo.generator import Generator


@dataclass(slots=True)
class Summary:
    seed: int
    today: dt.date
    customers: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        total = sum(self.rows.values())
        return {
            "seed": self.seed,
            "today": self.today.isoformat(),
            "customers": self.customers,
            "rows": self.rows,
            "total_rows": total,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(total / self.seconds) if self.seconds else None,
        }


async def ensure_stores(conn: AsyncConnection) -> tuple[int, ...]:
    """The demo stores (added once, by code); their ids in code order."""
    have = set((await conn.execute(select(models.Store.code))).scalars())
    new = [
        {"code": code, "name": name, "phone": phone, "address": addr, "closing_weekdays": closing}
        for code, name, phone, addr, closing in L.STORES
        if code not in have
    ]
    if new:
        await conn.execute(insert(models.Store), new)
    codes = [s[0] for s in L.STORES]
    rows = await conn.execute(
        select(models.Store.code, models.Store.id).where(models.Store.code.in_(codes))
    )
    by_code = dict(rows.all())
    return tuple(by_code[c] for c in codes)


async def start_ids(conn: AsyncConnection) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, model in TABLES:
        top = await conn.scalar(select(func.max(model.id)))
        ids[name] = int(top or 0) + 1
    return ids


async def prepare(engine: AsyncEngine) -> Start:
    async with engine.begin() as conn:
        stores = await ensure_stores(conn)
        return Start(ids=await start_ids(conn), store_ids=stores)


@functools.lru_cache(maxsize=8192)  # created_at/updated_at repeat one value per batch
def _sqlite_datetime(v: dt.datetime) -> str:
    return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(v: Any) -> str:
    return "[]" if v == [] else json.dumps(v)


def _sqlite_converter(column: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite types store a value (what they read back), without their
    per-value dispatch: the same text for dates and datetimes, JSON text, 0/1."""
    t = column.type
    if isinstance(t, models.AwareDateTime):
        return _sqlite_datetime
    if isinstance(t, JSON):
        return _sqlite_json
    if isinstance(t, Boolean):
        return int
    if isinstance(t, Date):
        return dt.date.isoformat
    return None


def _sqlite_rows(model: Any, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    table = model.__table__
    cols = list(rows[0])
    get = operator.itemgetter(*cols)
    convert = [(i, f) for i, c in enumerate(cols) if (f := _sqlite_converter(table.c[c]))]
    values: list[tuple[Any, ...]] = []
    for r in rows:
        cells = list(get(r))
        for i, f in convert:
            if cells[i] is not None:
                cells[i] = f(cells[i])
        values.append(tuple(cells))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    return sql, values


async def write(conn: AsyncConnection, batch: Batch) -> dict[str, int]:
    """Insert one batch. On SQLite the rows go to the driver as ready tuples (executemany):
    SQLAlchemy's per-value bind processing cost about 3× the insert itself (bench/demo_data.py).
    PostgreSQL takes the Core path (asyncpg's batched executemany)."""
    counts: dict[str, int] = {}
    sqlite = conn.dialect.name == "sqlite"
    for name, model in TABLES:
        rows = batch[name]
        if rows and sqlite:
            sql, values = _sqlite_rows(model, rows)
            await conn.exec_driver_sql(sql, values)
        elif rows:
            await conn.execute(insert(model), rows)
        counts[name] = len(rows)
    return counts


async def fix_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL: ids were given explicitly, so move each serial sequence past them."""
    if conn.dialect.name != "postgresql":
        return
    for name, _ in TABLES:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
            )
        )


def notice_of(config_dir: Path) -> tuple[int, str | None]:
    """The registry's current policy version and a purpose that version added (if any)."""
    from outreach.gate import purposes

    reg = purposes.load(config_dir / "purposes.toml")
    added = sorted(p.id for p in reg.purposes.values() if p.since_version == reg.version)
    return reg.version, (added[0] if added and reg.version > 1 else None)


async def load(
    engine: AsyncEngine,
    *,
    customers: int,
    seed: int,
    today: dt.date,
    batch_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
    notice_version: int = CURRENT_NOTICE,
    new_purpose: str | None = NEW_PURPOSE,
) -> Summary:
    """Generate and write `customers` customers with their records, a batch per transaction."""
    t0 = time.perf_counter()
    start = await prepare(engine)
    gen = Generator(seed, today, start, notice_version=notice_version, new_purpose=new_purpose)
    summary = Summary(seed=seed, today=today, customers=customers)
    summary.rows = {name: 0 for name, _ in TABLES}
    try:
        for batch in gen.batches(customers, batch_size):
            async with engine.begin() as conn:
                counts = await write(conn, batch)
            for k, v in counts.items():
                summary.rows[k] += v
            if progress is not None:
                progress(counts["customers"])
    finally:
        async with engine.begin() as conn:
            await fix_sequences(conn)
    summary.seconds = time.perf_counter() - t0
    return summary
