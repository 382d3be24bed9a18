"""Insert-or-update by external key, writing only rows whose values really changed.

One `INSERT … ON CONFLICT (key) DO UPDATE SET … WHERE <some column IS DISTINCT FROM the new
value>` per chunk, on SQLite and PostgreSQL alike. An unchanged row is left alone (not even
`updated_at` moves), so importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outreach.db.bulk import chunks, conflict_insert

# Both engines allow 32,766+ bound parameters per statement; stay well below.
MAX_PARAMS = 30_000


@dataclass(slots=True)
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: dict[str, int] = field(default_factory=dict)  # external key → id, every row given

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.ids.update(other.ids)


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    return conflict_insert(conn, table)


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: str,
    compare: Sequence[str],
    touch: Sequence[str] = ("updated_at",),
) -> Counts:
    """Upsert `rows` (all with the same columns) by the unique column `key`.

    `compare`: the columns whose change makes an update (those the input carries); `touch`:
    columns set only when an update happens (updated_at). Columns in neither, such as
    `created_at` or consent preferences, are written on insert and never updated.
    """
    counts = Counts()
    if not rows:
        return counts
    width = len(rows[0])
    step = max(1, MAX_PARAMS // width)
    kcol = table.c[key]
    for chunk in chunks(rows, step):
        keys = [r[key] for r in chunk]
        existing = dict((await conn.execute(select(kcol, table.c.id).where(kcol.in_(keys)))).all())
        # One statement compiled once and run as executemany ("insertmanyvalues" batches it
        # into multi-row INSERTs on both drivers); `.values(rows)` would compile a new
        # thousand-row statement every time, which cost more than the writing.
        ins = insert_for(conn, table)
        excluded = ins.excluded
        if compare:
            stmt = ins.on_conflict_do_update(
                index_elements=[kcol],
                set_={c: excluded[c] for c in (*compare, *touch)},
                where=or_(*(table.c[c].is_distinct_from(excluded[c]) for c in compare)),
            )
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=[kcol])
        written = dict((await conn.execute(stmt.returning(kcol, table.c.id), list(chunk))).all())
        for k in keys:
            if k not in written:
                counts.unchanged += 1
            elif k in existing:
                counts.updated += 1
            else:
                counts.inserted += 1
        counts.ids.update(existing)
        counts.ids.update(written)
    return counts
