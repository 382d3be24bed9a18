"""The campaign record as the services share it: the states and their labels, the actor,
the definition and snapshot of a row, loading one or all, the audit entry of a change."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Campaign
from outreach.errors import NotFound
from outreach.staff import audit
from outreach.staff import spec as spec_mod

DRAFT, APPROVED, SCHEDULED, RUNNING, PAUSED, DONE, CANCELLED = (
    "draft",
    "approved",
    "scheduled",
    "running",
    "paused",
    "done",
    "cancelled",
)
STATUS_LABELS = {
    DRAFT: "下書き",
    APPROVED: "承認済み",
    SCHEDULED: "配信予約済み",
    RUNNING: "配信中",
    PAUSED: "一時停止中",
    DONE: "完了",
    CANCELLED: "中止",
}
EDITABLE = frozenset({DRAFT, APPROVED, SCHEDULED})


class Actor(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...


def spec_of(c: Campaign) -> spec_mod.CampaignSpec:
    return spec_mod.parse(
        {
            "name": c.name,
            "purpose": c.purpose,
            "category": c.category,
            "channels": list(c.channels),
            "audience": list(c.audience.get("all", [])),
            "subject_template": c.subject_template,
            "text_template": c.text_template,
            "html_template": c.html_template,
            "advertising": c.advertising,
            "schedule_at": c.schedule_at,
            "recurrence": c.recurrence,
            "rate_per_second": c.rate_per_second,
        }
    )


def snapshot(c: Campaign) -> dict[str, Any]:
    data = spec_of(c).snapshot()
    data.update(
        id=c.id,
        status=c.status,
        version=c.version,
        created_by=c.created_by,
        approved_by=c.approved_by,
        approved_version=c.approved_version,
    )
    return data


async def get(session: AsyncSession, campaign_id: int, *, for_update: bool = False) -> Campaign:
    q = select(Campaign).where(Campaign.id == campaign_id)
    if for_update:
        q = q.with_for_update()
    c = await session.scalar(q)
    if c is None:
        raise NotFound(f"キャンペーン {campaign_id} はありません")
    return c


async def all_campaigns(session: AsyncSession, *, limit: int = 200) -> list[Campaign]:
    q = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


async def _log(
    session: AsyncSession,
    c: Campaign,
    action: str,
    actor: Actor,
    now: dt.datetime,
    before: dict[str, Any],
    reason: str | None = None,
) -> None:
    await session.flush()
    await audit.record(
        session,
        actor=actor.username,
        action=action,
        entity="campaign",
        entity_id=c.id,
        now=now,
        before=before,
        after=snapshot(c),
        reason=reason,
    )
