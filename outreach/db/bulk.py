"""Bulk database work below SQLAlchemy's row layer: plain-row reads on the driver
connection, PostgreSQL COPY and SQLite executemany; and the dialect's INSERT with ON CONFLICT.

Only aiosqlite and asyncpg are ever configured (see db.engine)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

S = TypeVar("S", bound=Sequence[Any])


def chunks(items: S, size: int) -> Iterator[S]:
    """`items` in slices of at most `size`, in order: the pieces of a long id list for
    `IN (...)` queries and batched writes (under the drivers' parameter limits)."""
    for start in range(0, len(items), size):
        yield cast(S, items[start : start + size])


Where = str | AsyncSession | AsyncConnection | AsyncEngine


def dialect_name(where: Where) -> str:
    """A dialect name as given, or read from a session, connection or engine."""
    if isinstance(where, str):
        return where
    if isinstance(where, AsyncSession):
        return where.get_bind().dialect.name
    return where.dialect.name


def conflict_insert(where: Where, table: Any) -> Any:
    """An INSERT into `table` that offers `on_conflict_do_nothing`/`on_conflict_do_update`:
    PostgreSQL's on PostgreSQL, SQLite's otherwise. `where` is a dialect name, or a session,
    connection or engine to read it from."""
    name = dialect_name(where)
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def among(where: Where, column: Any, values: Iterable[Any]) -> Any:
    """`column IN (values)` with the values in one bound parameter: `= ANY(:array)` on
    PostgreSQL, `IN (SELECT value FROM json_each(:json))` on SQLite. The SQL is the same for
    any number of values, so SQLAlchemy compiles it once (its statement cache) and asyncpg
    prepares it once, where an expanding `IN` is re-rendered with one parameter per value on
    every execution; and there is no parameter limit. Integer and string columns only."""
    name = dialect_name(where)
    return _among(
        name, column, bindparam(None, among_value(name, values), type_=_param_type(name, column))
    )


def among_named(where: Where, column: Any, key: str) -> Any:
    """`among` with its parameter named `key` and left unbound: for a statement compiled once
    and run with `{key: among_value(...)}`."""
    name = dialect_name(where)
    return _among(name, column, bindparam(key, type_=_param_type(name, column)))


def _among(name: str, column: Any, param: Any) -> Any:
    if name == "postgresql":
        cond: ColumnElement[bool] = column == any_(param)
        return cond
    each = func.json_each(param).table_valued("value")
    return column.in_(select(each.c.value))


def among_value(where: Where, values: Iterable[Any]) -> Any:
    """The bound value of an `among` parameter: a list for PostgreSQL, JSON text for SQLite."""
    listed = list(values)
    return listed if dialect_name(where) == "postgresql" else json.dumps(listed)


def _param_type(name: str, column: Any) -> Any:
    return postgresql.ARRAY(column.type) if name == "postgresql" else String()


class Driver:
    """The driver connection under the session's transaction, for plain-row reads.

    The gate reads a million rows per audit: building SQLAlchemy `Row` objects would cost as
    much as the query itself, so the compiled statement goes to the driver connection of the
    session's own transaction, with its parameters bound positionally (no type processing:
    the loader's parameters are integers and strings).
    """

    def __init__(self, dialect: Any, driver: Any) -> None:
        self.dialect = dialect
        self.driver = driver

    @classmethod
    async def of(cls, session: AsyncSession) -> Driver:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        return cls(conn.dialect, raw.driver_connection)

    def compile(self, stmt: Any) -> Any:
        """`stmt` compiled for this driver (once, for a statement run many times)."""
        return stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})

    async def fetch(self, stmt: Any) -> Sequence[Sequence[Any]]:
        return await self.fetch_compiled(self.compile(stmt))

    async def fetch_compiled(
        self, compiled: Any, values: dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """The rows of a statement compiled by `compile`, with `values` for its named
        parameters."""
        bound = compiled.construct_params(values) if values else compiled.params
        params = [bound[name] for name in compiled.positiontup or ()]
        if self.dialect.name == "sqlite":
            return list(await self.driver.execute_fetchall(str(compiled), params))
        return list(await self.driver.fetch(str(compiled), *params))


async def fetch(session: AsyncSession, stmt: Any) -> Sequence[Sequence[Any]]:
    """The rows of `stmt`, as the driver returns them, in the session's transaction."""
    return await (await Driver.of(session)).fetch(stmt)


async def insert_rows(session: AsyncSession, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, reading nothing back: COPY on
    PostgreSQL, one executemany on SQLite. Every row has the same keys."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await copy(session, t, rows)
    else:
        await executemany(session, t, rows)


async def copy(session: AsyncSession, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows in (asyncpg's binary COPY), in the session's transaction.

    Half the time of a multi-row INSERT for an audit's million decisions. The values are
    already what the columns hold (aware datetimes for timestamptz, ints, strings, bools).
    """
    driver = await Driver.of(session)
    columns = list(rows[0])
    await driver.driver.copy_records_to_table(
        t.name, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
    )


async def executemany(session: AsyncSession, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite: one executemany on the driver, values converted by each column type's own
    bind processor (so stored exactly as SQLAlchemy stores them), once per distinct value."""
    driver = await Driver.of(session)
    dialect = driver.dialect
    compiled = insert(t).compile(dialect=dialect, column_keys=list(rows[0]))
    columns = list(compiled.positiontup or ())
    convert = []
    for i, name in enumerate(columns):
        proc = t.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            convert.append((i, proc, dict[Any, Any]()))
    values = []
    for r in rows:
        v = [r[c] for c in columns]
        for i, proc, seen in convert:
            x = v[i]
            if x is not None:
                y = seen.get(x)
                if y is None:
                    y = seen[x] = proc(x)
                v[i] = y
        values.append(v)
    await driver.driver.executemany(str(compiled), values)
