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
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import ConsentEvent, Customer
from outreach.errors import InputRejected, NotFound
from outreach.gate import ledger
from outreach.gate.verify import BATCH, Problem, check_customer, verify

__all__ = ["BATCH", "Problem", "check_customer", "record_event", "verify"]

# Core table objects, not the ORM entities: these statements run on every opt-out click and
# the ORM's bulk-update bookkeeping would cost more than the SQL itself.
_CUSTOMERS = cast(Table, Customer.__table__)
_EVENTS = cast(Table, ConsentEvent.__table__)
_SCOPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.\-]{0,63}$")
_SOURCE = re.compile(r"^[a-z_]{1,32}$")


async def record_event(
    session: AsyncSession,
    customer_id: int,
    *,
    action: str,
    scope: str,
    source: str,
    actor: str,
    now: dt.datetime,
    legal_basis: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Append one consent event and update the customer's preferences, or do nothing.

    Runs in the caller's transaction (the caller commits). Returns False, writing nothing,
    when the event would change nothing (a repeated opt-out). Raises NotFound for an unknown
    customer and InputRejected for an unknown action or a malformed scope.
    """
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

    postgres = session.get_bind().dialect.name == "postgresql"
    row = await _lock(session, customer_id, postgres)
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    seq, head, opt_outs, suspended, consents = row
    before = ledger.Prefs(_scopes(opt_outs), bool(suspended), _scopes(consents))
    event = ledger.Event(
        customer_id=customer_id,
        seq=seq + 1,
        action=action,
        scope=scope,
        source=source,
        actor=actor,
        occurred_at=now.astimezone(dt.UTC),
        legal_basis=legal_basis,
        evidence=dict(evidence or {}),
    )
    after = ledger.apply(before, event)
    if after == before:
        return False
    digest = ledger.event_hash(head, event)
    if postgres:
        driver = await _driver(session)  # inside the transaction the lock above began
        await driver.execute(
            _APPEND_PG,
            customer_id,
            event.seq,
            action,
            scope,
            legal_basis,
            json.dumps(event.evidence, ensure_ascii=False),
            source,
            actor,
            event.occurred_at,
            head,
            digest,
            json.dumps(sorted(after.opt_outs)),
            after.use_suspended,
            json.dumps(sorted(after.consents)),
            now,
        )
        return True
    await session.execute(
        insert(_EVENTS).values(
            customer_id=customer_id,
            seq=event.seq,
            action=action,
            scope=scope,
            legal_basis=legal_basis,
            evidence=event.evidence,
            source=source,
            actor=actor,
            occurred_at=event.occurred_at,
            prev_hash=head,
            hash=digest,
        )
    )
    await session.execute(
        update(_CUSTOMERS)
        .where(_CUSTOMERS.c.id == customer_id)
        .values(
            opt_outs=sorted(after.opt_outs),
            use_suspended=after.use_suspended,
            consents=sorted(after.consents),
            ledger_seq=event.seq,
            ledger_head=digest,
            updated_at=now,
        )
    )
    return True


# PostgreSQL: the opt-out link is the hottest write path (one-click POSTs from mail providers
# arrive in bursts after every campaign), so there the event and the record are written by one
# plain statement on the driver connection of the session's own transaction (begun by the
# locking read, which goes through SQLAlchemy for exactly that reason). Same rows as the Core
# path below, which SQLite uses.
_APPEND_PG = """
WITH event AS (
    INSERT INTO consent_events (customer_id, seq, action, scope, legal_basis, evidence,
                                source, actor, occurred_at, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11)
)
UPDATE customers
SET opt_outs = $12::json, use_suspended = $13, consents = $14::json,
    ledger_seq = $2, ledger_head = $11, updated_at = $15
WHERE id = $1
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
