"""Writing the suppression list from reports: one row per normalised address, first reason kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.db.bulk import conflict_insert
from outreach.db.models import Suppression


async def suppress(
    session: AsyncSession, email: str, *, reason: str, detail: str, now: dt.datetime
) -> None:
    """Put `email` on the suppression list (in the caller's transaction); a listed address
    keeps its first reason."""
    await session.execute(
        conflict_insert(session, Suppression)
        .values(
            email=addresses.normalise(email),
            reason=reason[:32],
            detail=detail[:400],
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["email"])
    )
