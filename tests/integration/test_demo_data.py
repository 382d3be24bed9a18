"""`demo-data` into SQLite and PostgreSQL: the rows written are exactly the seeded generator's,
the ledger verifies, ids continue on a second run, and sequences follow the explicit ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach import demo as demo_data
from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db import models
from outreach.gate import consent
from outreach.records import customers

TODAY = dt.date(2026, 1, 5)
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=JST)


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


async def _table(engine: AsyncEngine, model: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(model.__table__).order_by(model.__table__.c.id))
        return [{k: _norm(v) for k, v in r._mapping.items()} for r in rows]


async def test_rows_are_the_seeded_generators_and_the_ledger_verifies(engine: AsyncEngine) -> None:
    summary = await demo_data.load(engine, customers=300, seed=11, today=TODAY, batch_size=120)
    assert summary.rows["customers"] == 300
    async with engine.connect() as conn:
        store_ids = tuple(
            (await conn.execute(select(models.Store.id).order_by(models.Store.code))).scalars()
        )
    start = demo_data.Start(ids={name: 1 for name, _ in demo_data.TABLES}, store_ids=store_ids)
    expected = demo_data.Generator(11, TODAY, start).batch(300)
    for name, model in demo_data.TABLES:
        got = await _table(engine, model)
        want = [{k: _norm(v) for k, v in row.items()} for row in expected[name]]
        assert len(got) == summary.rows[name] == len(want), name
        assert [{k: g[k] for k in w} for g, w in zip(got, want, strict=True)] == want, name

    async with engine_mod.sessionmaker(engine)() as session:
        assert await consent.verify(session) == []


async def test_second_run_continues_ids_and_sequences_follow(engine: AsyncEngine) -> None:
    await demo_data.load(engine, customers=50, seed=1, today=TODAY)
    await demo_data.load(engine, customers=50, seed=1, today=TODAY)
    async with engine.begin() as conn:
        assert await conn.scalar(select(func.count()).select_from(models.Store)) == 8
        ids = list(
            (await conn.execute(select(models.Customer.id).order_by(models.Customer.id))).scalars()
        )
        assert ids == list(range(1, 101))
        # An insert without an explicit id (the import, the web console) must not collide.
        await conn.execute(
            insert(models.Customer).values(
                external_id="X1", name_kanji="髙橋 一郎", created_at=NOW, updated_at=NOW
            )
        )
        assert (
            await conn.scalar(select(models.Customer.id).where(models.Customer.external_id == "X1"))
            == 101
        )
        new_event_id = (
            await conn.execute(
                insert(models.ConsentEvent)
                .values(customer_id=101, seq=1, action="opt_out", scope="all", source="phone",
                        actor="staff:t", occurred_at=NOW, hash="0" * 64)
                .returning(models.ConsentEvent.id)
            )
        ).scalar_one()  # fmt: skip
        top = await conn.scalar(
            select(func.max(models.ConsentEvent.id)).where(models.ConsentEvent.id < new_event_id)
        )
        assert new_event_id == (top or 0) + 1


async def test_show_a_demo_customer_with_history(engine: AsyncEngine) -> None:
    await demo_data.load(engine, customers=200, seed=5, today=TODAY)
    async with engine_mod.sessionmaker(engine)() as session:
        cid = await session.scalar(
            select(models.ConsentEvent.customer_id).order_by(models.ConsentEvent.id)
        )
        assert cid is not None
        shown = await customers.show(session, str(cid), actor="cli:test", now=NOW)
        c = await session.get(models.Customer, cid)
        assert c is not None and shown.customer.external_id == c.external_id
        assert shown.preferences.opt_outs == tuple(sorted(c.opt_outs))
        assert [e.seq for e in shown.consent_events] == list(range(c.ledger_seq, 0, -1))
        audit = (await session.execute(select(models.AuditEntry))).scalars().all()
        assert [(a.action, a.entity, a.entity_id) for a in audit] == [
            ("read", "customer", str(cid))
        ]
