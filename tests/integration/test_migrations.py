"""Migrations: empty → head → base → head on both engines; the schema matches the models."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.db import migrate
from outreach.db.models import Base


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def test_upgrade_downgrade_roundtrip(db_url: str, engine: AsyncEngine) -> None:
    assert await _tables(engine) == set(Base.metadata.tables)
    await migrate.downgrade(db_url, "base")
    assert await _tables(engine) == set()
    await migrate.upgrade(db_url, "head")
    assert await _tables(engine) == set(Base.metadata.tables)


async def test_schema_matches_models(db_url: str, engine: AsyncEngine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(conn: object) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})  # type: ignore[arg-type]
        return list(compare_metadata(ctx, Base.metadata))

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"models and migrations differ: {changes}"
