"""The audit log: every staff action (who, what, when, before/after) and every read of a
customer's personal data (R11). Rows are written in the caller's transaction, so an action
and its audit row commit or fail together.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    now: dt.datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    row = AuditEntry(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
        reason=reason[:400] if reason else None,
        at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def note(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """`record` for a row nobody reads back (a failed or refused login): one cached INSERT,
    no ORM object and no flush — the rows a login flood writes."""
    await session.execute(
        _NOTE,
        {
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id),
            "reason": reason[:400] if reason else None,
            "at": now,
        },
    )


_NOTE = insert(cast(Table, AuditEntry.__table__))  # Core: no ORM bulk-insert bookkeeping


async def read(
    session: AsyncSession,
    *,
    actor: str,
    customer_id: int,
    what: str,
    now: dt.datetime,
) -> None:
    """Log a staff read of one customer's personal data (R11)."""
    await record(
        session,
        actor=actor,
        action="customer.read",
        entity="customer",
        entity_id=customer_id,
        now=now,
        reason=what,
    )


async def entries(
    session: AsyncSession,
    *,
    entity: str | None = None,
    entity_id: object = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity is not None:
        q = q.where(AuditEntry.entity == entity)
    if entity_id is not None:
        q = q.where(AuditEntry.entity_id == str(entity_id))
    if action is not None:
        q = q.where(AuditEntry.action == action)
    return list((await session.scalars(q)).all())
