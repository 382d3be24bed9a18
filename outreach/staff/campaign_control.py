"""Campaign control: pause (queued messages wait), resume, cancel (queued and paused ones
are cancelled; sent ones stay sent)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import outbox
from outreach.db.models import Campaign, OutboxMessage
from outreach.staff import roles
from outreach.staff.campaign_record import (
    CANCELLED,
    DONE,
    PAUSED,
    RUNNING,
    SCHEDULED,
    STATUS_LABELS,
    Actor,
    _log,
    get,
    snapshot,
)
from outreach.staff.errors import Conflict


async def pause(
    session: AsyncSession, campaign_id: int, *, actor: Actor, now: dt.datetime
) -> Campaign:
    """Hold a scheduled or running campaign; its queued messages wait (outbox status paused)."""
    roles.require(actor.role, "campaign.control")
    c = await get(session, campaign_id, for_update=True)
    if c.status not in (SCHEDULED, RUNNING):
        raise Conflict(f"{STATUS_LABELS[c.status]}のキャンペーンは一時停止できません")
    before = snapshot(c)
    held = await outbox.pause_campaign(session, c.id)
    c.status = PAUSED
    c.updated_at = now
    await _log(session, c, "campaign.pause", actor, now, before, reason=f"held={held}")
    return c


async def resume(
    session: AsyncSession, campaign_id: int, *, actor: Actor, now: dt.datetime
) -> Campaign:
    roles.require(actor.role, "campaign.control")
    c = await get(session, campaign_id, for_update=True)
    if c.status != PAUSED:
        raise Conflict("一時停止中のキャンペーンだけが再開できます")
    before = snapshot(c)
    released = await outbox.resume_campaign(session, c.id)
    started = await _has_outbox(session, c.id)
    c.status = RUNNING if started else SCHEDULED
    c.updated_at = now
    await _log(session, c, "campaign.resume", actor, now, before, reason=f"released={released}")
    return c


async def cancel(
    session: AsyncSession, campaign_id: int, *, actor: Actor, now: dt.datetime
) -> Campaign:
    """Stop for good: queued and paused messages are cancelled; sent ones stay sent."""
    roles.require(actor.role, "campaign.control")
    c = await get(session, campaign_id, for_update=True)
    if c.status in (DONE, CANCELLED):
        raise Conflict(f"{STATUS_LABELS[c.status]}のキャンペーンは中止できません")
    before = snapshot(c)
    n = await outbox.cancel_campaign(session, c.id)
    c.status = CANCELLED
    c.updated_at = now
    await _log(session, c, "campaign.cancel", actor, now, before, reason=f"cancelled={n}")
    return c


async def _has_outbox(session: AsyncSession, campaign_id: int) -> bool:
    q = select(OutboxMessage.id).where(OutboxMessage.campaign_id == campaign_id).limit(1)
    return (await session.scalar(q)) is not None
