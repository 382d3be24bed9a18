"""R5 at the database level, on both databases: a provision/receipt record cannot be changed
by any SQL (a trigger refuses UPDATE always and DELETE of a row younger than the legal
minimum, by the database's own clock); the retention job is the one path that removes the
older ones, and its audit row names every record it removed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import AuditEntry, ProvisionRecord
from outreach.retention import job, periods

REPO = Path(__file__).resolve().parents[2]
P = periods.load(REPO / "config" / "retention.toml")
DAY = dt.timedelta(days=1)


def wall() -> dt.datetime:
    """The real time: the guard measures age by the database's clock, not a test clock."""
    return dt.datetime.now(JST).replace(microsecond=0)


async def add(engine: AsyncEngine, at: dt.datetime) -> int:
    async with engine.begin() as conn:
        r = await conn.execute(
            insert(ProvisionRecord).values(
                direction="provide", counterparty="トヨタ自動車株式会社", customer_id=1,
                items=["①"], basis="joint_use", detail={}, at=at,
            )
        )  # fmt: skip
        key = r.inserted_primary_key
        assert key is not None
        return int(key[0])


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ProvisionRecord)) or 0)


async def test_update_and_delete_of_a_record_are_refused_by_the_database(
    engine: AsyncEngine,
) -> None:
    young = await add(engine, wall() - 10 * DAY)
    old = await add(engine, wall() - 1200 * DAY)
    t = cast(Table, ProvisionRecord.__table__)
    for stmt in (
        update(t).where(t.c.id == young).values(counterparty="誰か"),
        update(t).where(t.c.id == old).values(items=["②"]),  # old or not: never changed
        delete(t).where(t.c.id == young),
        delete(t),
    ):
        with pytest.raises(DBAPIError, match="provision_records"):
            async with engine.begin() as conn:
                await conn.execute(stmt)
    assert await count(engine) == 2
    async with engine.connect() as conn:
        q = select(t.c.counterparty, t.c["items"]).where(t.c.id == old)
        row = (await conn.execute(q)).one()
    assert tuple(row) == ("トヨタ自動車株式会社", ["①"])
    # past the legal minimum, a DELETE is possible (the retention job's path below)
    async with engine.begin() as conn:
        await conn.execute(delete(t).where(t.c.id == old))
    assert await count(engine) == 1


async def test_truncate_is_refused_on_postgresql(pg_url: str) -> None:
    eng = engine_mod.make_engine(pg_url)
    try:
        await add(eng, wall() - 1200 * DAY)
        with pytest.raises(DBAPIError, match="provision_records"):
            async with eng.begin() as conn:
                await conn.execute(text("TRUNCATE provision_records"))
        assert await count(eng) == 1
    finally:
        await eng.dispose()


async def test_the_retention_job_removes_only_records_past_the_minimum_and_audits_them(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    now = wall()
    gone = await add(engine, now - 1100 * DAY)
    await add(engine, now - 1090 * DAY)
    await add(engine, now - 1 * DAY)
    async with engine_mod.sessionmaker(engine)() as s:
        plan = await job.run(s, P, now, data_dir=tmp_path, dry_run=False)
    assert plan.counts["provision_records"] == 1
    assert await count(engine) == 2
    async with engine.connect() as conn:
        audit = (
            await conn.execute(
                select(AuditEntry.after).where(AuditEntry.action == "retention.provision_records")
            )
        ).scalar_one()
    assert audit["deleted"] == 1 and audit["ids"] == [gone]


async def test_a_retention_run_whose_clock_is_ahead_cannot_remove_young_records(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A clock (or a period) that would make a two-year-old record look past its period: the
    database refuses, the whole run rolls back, nothing is lost."""
    await add(engine, wall() - 700 * DAY)
    async with engine_mod.sessionmaker(engine)() as s:
        with pytest.raises(DBAPIError, match="provision_records"):
            await job.run(s, P, wall() + 500 * DAY, data_dir=tmp_path, dry_run=False)
    assert await count(engine) == 1
