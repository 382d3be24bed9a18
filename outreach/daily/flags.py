"""The flags a daily run raises: 自賠責 cover that ends before the 車検 expiry (R32)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.candidates import insurance
from outreach.candidates.facts import VehicleFacts
from outreach.daily.selection import IN_CHUNK, P
from outreach.db.bulk import chunks, conflict_insert
from outreach.db.models import Flag

GAP_MESSAGE = "自賠責保険の満了が車検満了日より前です。更新をご確認ください。"


async def flag_gaps(
    session: AsyncSession, vehicles: Sequence[VehicleFacts], now: dt.datetime
) -> int:
    """Flag each vehicle whose latest 自賠責 policy ends before its 車検 expiry (R32)."""
    by_id = {v.id: v for v in vehicles if v.shaken_expiry_on is not None}
    ids = sorted(by_id)
    rows: list[dict[str, Any]] = []
    for part in chunks(ids, IN_CHUNK):
        stmt = (
            select(P.c.vehicle_id, func.max(P.c.expires_at))
            .where(P.c.kind == "jibaiseki", P.c.vehicle_id.in_(part))
            .group_by(P.c.vehicle_id)
        )
        for vid, ends in await session.execute(stmt):
            v = by_id[vid]
            assert v.shaken_expiry_on is not None
            if ends is not None and insurance.jibaiseki_gap(v.shaken_expiry_on, ends):
                rows.append(
                    {
                        "key": f"jibaiseki_gap:vehicle:{vid}:{v.shaken_expiry_on.isoformat()}",
                        "kind": "jibaiseki_gap",
                        "vehicle_id": vid,
                        "customer_id": v.user_id,
                        "detail": {
                            "shaken_expiry_on": v.shaken_expiry_on.isoformat(),
                            "jibaiseki_expires_at": ends.isoformat(),
                            "message": GAP_MESSAGE,
                        },
                        "created_at": now,
                    }
                )
    if not rows:
        return 0
    # executemany (SQLAlchemy's insertmanyvalues): one compiled statement, batched rows.
    stmt = (
        conflict_insert(session, Flag)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Flag.id)
    )
    return len((await session.execute(stmt, rows)).all())
