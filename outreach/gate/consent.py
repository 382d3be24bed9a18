"""The consent ledger's write side and its verification (`gate.verify`, re-exported).

`record_event` is the one way a customer's preferences change: it appends one hash-chained
event and updates the customer record in the caller's transaction, so the ledger and the
record can never be committed apart. `verify` re-derives every customer's preferences from
the ledger, re-checks the chain and reports each mismatch.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from outreach.db.models import ConsentEvent, Customer
from outreach.errors import InputRejected, NotFound
from outreach.gate import ledger
from outreach.gate.verify import BATCH, Problem, check_customer, verify

__all__ = [
    "BATCH",
    "Change",
    "EventArgs",
    "Problem",
    "change",
    "check",
    "check_customer",
    "record_alone",
    "record_event",
    "verify",
]

# Core table objects, not the ORM entities: these statements run on every opt-out click and
# the ORM's bulk-update bookkeeping would cost more than the SQL itself.
_CUSTOMERS = cast(Table, Customer.__table__)
_EVENTS = cast(Table, ConsentEvent.__table__)
_SCOPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.\-]{0,63}$")
_SOURCE = re.compile(r"^[a-z_]{1,32}$")


@dataclass(frozen=True, slots=True)
class Change:
    """One event to append, with the customer's preferences after it and the chain link."""

    event: ledger.Event
    after: ledger.Prefs
    prev: str | None
    digest: str


class EventArgs(TypedDict):
    """The consent event asked for, as `record_event`, `record_alone`, `change` and
    `ledger_batch.LedgerBatcher.record` take it (keywords)."""

    action: str
    scope: str
    source: str
    actor: str
    now: dt.datetime
    legal_basis: NotRequired[str | None]
    evidence: NotRequired[dict[str, Any] | None]


def check(kw: EventArgs) -> None:
    """InputRejected for an unknown action or a malformed scope, source or actor."""
    action, scope, source, actor, now = (
        kw["action"],
        kw["scope"],
        kw["source"],
        kw["actor"],
        kw["now"],
    )
    if action not in ledger.ACTIONS:
        raise InputRejected(
            f"unknown consent action {action!r} (one of {', '.join(ledger.ACTIONS)})"
        )
    if not _SCOPE.match(scope):
        raise InputRejected(f"invalid consent scope {scope!r}")
    if not _SOURCE.match(source):
        raise InputRejected(f"invalid consent source {source!r}")
    if not actor or len(actor) > 64:
        raise InputRejected("the actor must be 1–64 characters")
    if now.tzinfo is None:
        raise ValueError("naive datetime refused: pass an aware datetime")


def change(customer_id: int, row: Any, **kw: Unpack[EventArgs]) -> Change | None:
    """The event the locked row `(seq, head, opt_outs, suspended, consents)` leads to, or None
    when it would change nothing."""
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    seq, head, opt_outs, suspended, consents = row
    before = ledger.Prefs(_scopes(opt_outs), bool(suspended), _scopes(consents))
    event = ledger.Event(
        customer_id=customer_id,
        seq=seq + 1,
        action=kw["action"],
        scope=kw["scope"],
        source=kw["source"],
        actor=kw["actor"],
        occurred_at=kw["now"].astimezone(dt.UTC),
        legal_basis=kw.get("legal_basis"),
        evidence=dict(kw.get("evidence") or {}),
    )
    after = ledger.apply(before, event)
    if after == before:
        return None
    return Change(event, after, head, ledger.event_hash(head, event))


def append_args(c: Change, now: dt.datetime) -> tuple[Any, ...]:
    """The append statements' parameters ($1…$15) for one change."""
    e = c.event
    return (
        e.customer_id,
        e.seq,
        e.action,
        e.scope,
        e.legal_basis,
        json.dumps(e.evidence, ensure_ascii=False),
        e.source,
        e.actor,
        e.occurred_at,
        c.prev,
        c.digest,
        json.dumps(sorted(c.after.opt_outs)),
        c.after.use_suspended,
        json.dumps(sorted(c.after.consents)),
        now,
    )


async def record_event(session: AsyncSession, customer_id: int, **kw: Unpack[EventArgs]) -> bool:
    """Append one consent event and update the customer's preferences, or do nothing.

    Runs in the caller's transaction (the caller commits). Returns False, writing nothing,
    when the event would change nothing (a repeated opt-out). Raises NotFound for an unknown
    customer and InputRejected for an unknown action or a malformed scope.
    """
    check(kw)
    now = kw["now"]
    postgres = session.get_bind().dialect.name == "postgresql"
    row = await _lock(session, customer_id, postgres)
    c = change(customer_id, row, **kw)
    if c is None:
        return False
    if postgres:
        driver = await _driver(session)  # inside the transaction the lock above began
        await append_pg(driver, [(c, row[0], now)])  # under the row lock: it moves
        return True
    await session.execute(
        insert(_EVENTS).values(
            customer_id=customer_id,
            seq=c.event.seq,
            action=c.event.action,
            scope=c.event.scope,
            legal_basis=c.event.legal_basis,
            evidence=c.event.evidence,
            source=c.event.source,
            actor=c.event.actor,
            occurred_at=c.event.occurred_at,
            prev_hash=c.prev,
            hash=c.digest,
        )
    )
    await session.execute(
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.id == customer_id)
        .values(
            opt_outs=sorted(c.after.opt_outs),
            use_suspended=c.after.use_suspended,
            consents=sorted(c.after.consents),
            ledger_seq=c.event.seq,
            ledger_head=c.digest,
            updated_at=now,
        )
    )
    return True


async def record_alone(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    customer_id: int,
    **kw: Unpack[EventArgs],
) -> bool:
    """`record_event` in a transaction of its own, committed before it returns.

    For a change that is the whole transaction (a one-click opt-out; several at once go
    through `ledger_batch.LedgerBatcher`). On PostgreSQL it runs straight on a pooled driver
    connection, no ORM session (about half the CPU of the session path), in two round trips:
    an unlocked read, then one statement that updates the record only if its ledger sequence
    is still the one read (compare-and-swap) and inserts the event only with that update; if
    another change came first it reads again, and after three lost races it takes the row
    lock. Driver errors are raised as SQLAlchemy's OperationalError, like the session path's.
    """
    check(kw)
    now = kw["now"]
    if engine.dialect.name != "postgresql":
        async with sessions.begin() as s:
            return await record_event(s, customer_id, **kw)
    import asyncpg

    async with engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        try:
            for _ in range(_CAS_TRIES):
                row = await driver.fetchrow(_READ_PG, customer_id)
                c = change(customer_id, row, **kw)
                if c is None:
                    return False
                if await append_pg(driver, [(c, row[0], now)]):
                    return True
            # Still racing after a few tries (a burst on one customer): wait our turn.
            async with driver.transaction():
                row = await driver.fetchrow(_LOCK_PG, customer_id)
                c = change(customer_id, row, **kw)
                if c is None:
                    return False
                await append_pg(driver, [(c, row[0], now)])  # under the row lock: it moves
                return True
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            if driver.is_closed():  # lost: not back into the pool for the next request
                await conn.invalidate(e)
            raise OperationalError("consent append", None, e) from e


async def append_pg(driver: Any, changes: Sequence[tuple[Change, int, dt.datetime]]) -> set[int]:
    """Write consent changes on PostgreSQL, each `(change, sequence it was read at, now)`, in
    one statement on the asyncpg connection (the caller's transaction, or its own): each
    record moves only from the sequence read (compare-and-swap), and an event is inserted
    only for a record that moved. Returns the customer ids that moved; under the row lock
    (`record_event`, the locked retry) every one does.

    The opt-out link is the hottest write path (one-click POSTs from mail providers arrive in
    bursts after every campaign): one plain statement, no ORM, for one change or a group
    (`ledger_batch`). Same rows as the Core path of `record_event`, which SQLite uses."""
    cols: tuple[list[Any], ...] = tuple([] for _ in range(16))
    for c, prev_seq, now in changes:
        for col, value in zip(cols, (*append_args(c, now), prev_seq), strict=True):
            col.append(value)
    return {r[0] for r in await driver.fetch(_APPEND_PG, *cols)}


_APPEND_PG = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[],
                         $6::json[], $7::text[], $8::text[], $9::timestamptz[], $10::text[],
                         $11::text[], $12::json[], $13::bool[], $14::json[],
                         $15::timestamptz[], $16::int[])
        AS t(id, seq, action, scope, legal_basis, evidence, source, actor, occurred_at,
             prev_hash, hash, opt_outs, suspended, consents, now, prev_seq)
), moved AS (
    UPDATE customers c
    SET opt_outs = i.opt_outs, use_suspended = i.suspended, consents = i.consents,
        ledger_seq = i.seq, ledger_head = i.hash, updated_at = i.now
    FROM input i
    WHERE c.id = i.id AND c.ledger_seq = i.prev_seq
    RETURNING c.id
), event AS (
    INSERT INTO consent_events (customer_id, seq, action, scope, legal_basis, evidence,
                                source, actor, occurred_at, prev_hash, hash)
    SELECT i.id, i.seq, i.action, i.scope, i.legal_basis, i.evidence, i.source, i.actor,
           i.occurred_at, i.prev_hash, i.hash
    FROM input i JOIN moved m ON m.id = i.id
)
SELECT id FROM moved
"""
_CAS_TRIES = 3
_READ_PG = """
SELECT ledger_seq, ledger_head, opt_outs, use_suspended, consents FROM customers WHERE id = $1
"""
_LOCK_PG = """
SELECT ledger_seq, ledger_head, opt_outs, use_suspended, consents
FROM customers WHERE id = $1 FOR UPDATE
"""


async def _driver(session: AsyncSession) -> Any:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def _scopes(value: Any) -> frozenset[str]:
    """A JSON list column as read by either driver (asyncpg may give json as text)."""
    if isinstance(value, str):
        value = json.loads(value)
    return frozenset(value or ())


async def _lock(session: AsyncSession, customer_id: int, postgres: bool) -> Any:
    """Read the customer's ledger state under a write lock held to the end of the transaction.

    PostgreSQL: SELECT … FOR UPDATE. SQLite has no row locks: a no-op UPDATE first takes the
    database write lock (waiting up to busy_timeout), so the read below sees the latest
    committed head and no other writer can append between the read and the insert.
    """
    c = _CUSTOMERS.c
    stmt = select(c.ledger_seq, c.ledger_head, c.opt_outs, c.use_suspended, c.consents)
    stmt = stmt.where(c.id == customer_id)
    if postgres:
        stmt = stmt.with_for_update()
    else:
        await session.execute(
            update(_CUSTOMERS).where(c.id == customer_id).values(ledger_seq=c.ledger_seq)
        )
    return (await session.execute(stmt)).first()
