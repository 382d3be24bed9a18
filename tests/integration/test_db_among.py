"""`bulk.among`, the one-parameter `IN` of the worker's hot queries, against the real
databases: it selects exactly the rows an `IN (...)` list would, for integers and for any
strings (quotes, JSON's own characters, Japanese, empty), with no parameter limit."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.db import bulk
from outreach.db import engine as engine_mod

WORDS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


def _table() -> Table:
    return Table(
        f"among_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("word", String(200)),
    )


async def _check(engine: AsyncEngine, words: list[str], ids: list[int], wanted: list[str]) -> None:
    t = _table()
    async with engine.begin() as conn:
        await conn.run_sync(t.metadata.create_all)
    try:
        async with engine_mod.sessionmaker(engine)() as s, s.begin():
            if words:
                rows = [{"id": i, "word": w} for i, w in enumerate(words, 1)]
                await s.execute(t.insert(), rows)
            by_id = select(t.c.id).where(bulk.among(s, t.c.id, ids))
            got_ids = sorted((await s.execute(by_id)).scalars())
            by_word = select(t.c.id).where(bulk.among(s, t.c.word, wanted))
            got_words = sorted((await s.execute(by_word)).scalars())
        assert got_ids == sorted({i for i in ids if 1 <= i <= len(words)})
        assert got_words == [i for i, w in enumerate(words, 1) if w in set(wanted)]
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(t.metadata.drop_all)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(WORDS.map(lambda w: w[:60]), max_size=12),
    ids=st.lists(st.integers(min_value=-3, max_value=15), max_size=10),
    extra=st.lists(WORDS.map(lambda w: w[:60]), max_size=4),
    picks=st.lists(st.integers(min_value=0, max_value=11), max_size=6),
)
def test_among_selects_what_an_in_list_selects(
    db_url: str, words: list[str], ids: list[int], extra: list[str], picks: list[int]
) -> None:
    wanted = [words[p] for p in picks if p < len(words)] + extra

    async def go() -> None:
        eng = engine_mod.make_engine(db_url)
        try:
            await _check(eng, words, ids, wanted)
        finally:
            await eng.dispose()

    asyncio.run(go())


async def test_among_takes_more_values_than_a_statement_has_parameters(
    engine: AsyncEngine,
) -> None:
    """SQLite allows 32,766 parameters and asyncpg 32,767 per statement: `among` binds one."""
    words = ["'", '"', "\\", "[]", "車検", "", "a,b"] * 10
    await _check(engine, words, list(range(-20_000, 40_000)), ['"', "車検", "", "x"])
