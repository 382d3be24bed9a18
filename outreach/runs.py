"""The run log: one `runs` row per daily reminder run or campaign firing (written by
`daily.runner` and `staff.sending`), read back here for `outreach runs`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Run


async def recent(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` runs, newest first, with their stored summaries."""
    rows = (await session.execute(select(Run).order_by(Run.id.desc()).limit(limit))).scalars()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "run_date": r.run_date.isoformat() if r.run_date else None,
            "status": r.status,
            "dry_run": r.dry_run,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "summary": r.summary,
        }
        for r in rows
    ]
