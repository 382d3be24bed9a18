"""Campaigns: create, edit (versioned), four-eyes approval of an exact version, schedule,
pause, resume, cancel. Every change is audited with before/after in the same transaction.

States: draft → approved → scheduled → running → done, with paused and cancelled. Any edit
sends an approved or scheduled campaign back to draft (its approval was for another version).

The shared record helpers are `staff.campaign_record`, the controls `staff.campaign_control`;
their names are re-exported here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Campaign
from outreach.staff import audit, recurrence, roles, validation
from outreach.staff import spec as spec_mod
from outreach.staff.campaign_control import cancel, pause, resume
from outreach.staff.campaign_record import (
    APPROVED,
    CANCELLED,
    DONE,
    DRAFT,
    EDITABLE,
    PAUSED,
    RUNNING,
    SCHEDULED,
    STATUS_LABELS,
    Actor,
    _log,
    all_campaigns,
    get,
    snapshot,
    spec_of,
)
from outreach.staff.errors import Conflict, Forbidden, Invalid, Problem

__all__ = [
    "APPROVED",
    "CANCELLED",
    "DONE",
    "DRAFT",
    "EDITABLE",
    "PAUSED",
    "RUNNING",
    "SCHEDULED",
    "STATUS_LABELS",
    "Actor",
    "Campaign",
    "all_campaigns",
    "approve",
    "cancel",
    "create",
    "get",
    "pause",
    "resume",
    "schedule",
    "snapshot",
    "spec_of",
    "update_spec",
]


def _apply(c: Campaign, s: spec_mod.CampaignSpec, purpose: validation.PurposeView) -> None:
    c.name = s.name
    c.purpose = s.purpose
    c.category = s.category or purpose.category
    c.channels = list(s.channels)
    c.audience = {"all": [cond.model_dump(mode="json") for cond in s.audience]}
    c.subject_template = s.subject_template
    c.text_template = s.text_template
    c.html_template = s.html_template
    c.advertising = s.advertising
    c.schedule_at = s.schedule_at
    c.recurrence = s.recurrence
    c.rate_per_second = s.rate_per_second


def _validated(
    s: spec_mod.CampaignSpec, rules: validation.Rules, now: dt.datetime | None = None
) -> validation.PurposeView:
    problems = validation.check(s, rules)
    if now is not None:
        problems += recurrence.check(s.recurrence, now)
    if problems:
        raise Invalid(problems)
    purpose = rules.purpose(s.purpose)
    assert purpose is not None  # check() reported an unknown purpose
    return purpose


async def create(
    session: AsyncSession,
    s: spec_mod.CampaignSpec,
    rules: validation.Rules,
    *,
    actor: Actor,
    now: dt.datetime,
) -> Campaign:
    roles.require(actor.role, "campaign.write")
    purpose = _validated(s, rules, now)
    c = Campaign(status=DRAFT, version=1, created_by=actor.username, created_at=now, updated_at=now)
    _apply(c, s, purpose)
    session.add(c)
    await session.flush()
    await audit.record(
        session,
        actor=actor.username,
        action="campaign.create",
        entity="campaign",
        entity_id=c.id,
        now=now,
        after=snapshot(c),
    )
    return c


async def update_spec(
    session: AsyncSession,
    campaign_id: int,
    s: spec_mod.CampaignSpec,
    rules: validation.Rules,
    *,
    expected_version: int | None,
    actor: Actor,
    now: dt.datetime,
) -> Campaign:
    """Save a new version. An approved or scheduled campaign returns to draft."""
    roles.require(actor.role, "campaign.write")
    c = await get(session, campaign_id, for_update=True)
    if c.status not in EDITABLE:
        raise Conflict(f"{STATUS_LABELS[c.status]}のキャンペーンは編集できません")
    if expected_version is not None and expected_version != c.version:
        raise Conflict(
            f"キャンペーンは他の人が更新しました（版 {c.version}）。読み込み直してください"
        )
    purpose = _validated(s, rules, now)
    before = snapshot(c)
    _apply(c, s, purpose)
    c.version += 1
    c.status = DRAFT
    c.approved_by = None
    c.approved_version = None
    c.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor.username,
        action="campaign.edit",
        entity="campaign",
        entity_id=c.id,
        now=now,
        before=before,
        after=snapshot(c),
    )
    return c


async def approve(
    session: AsyncSession,
    campaign_id: int,
    version: int,
    rules: validation.Rules,
    *,
    actor: Actor,
    now: dt.datetime,
    certify_non_advertising: bool = False,
) -> Campaign:
    """Four-eyes: an approver other than the creator approves exactly `version`.

    A campaign is advertising (R14). One filed as not advertising (possible only under a
    service-notice purpose) is approved only with the approver's explicit certification,
    refused while its text holds promotional wording, and the certification is audited."""
    roles.require(actor.role, "campaign.approve")
    c = await get(session, campaign_id, for_update=True)
    if c.created_by == actor.username:
        raise Forbidden("自分が作成したキャンペーンは承認できません（別の承認者が必要です）")
    if c.status != DRAFT:
        raise Conflict(f"{STATUS_LABELS[c.status]}のキャンペーンは承認できません")
    if version != c.version:
        raise Conflict(f"承認しようとした版 {version} は最新の版 {c.version} ではありません")
    s = spec_of(c)
    purpose = _validated(s, rules)  # the registry may have changed since it was saved
    if not c.advertising:
        if not certify_non_advertising:
            raise Conflict(
                "広告でない連絡として承認するには、承認者が広告を含まないことを確認する"
                "必要があります（--certify-non-advertising）"
            )
        problems = validation.non_advertising_problems(s, purpose)
        if problems:
            raise Invalid(problems)
        await audit.record(
            session,
            actor=actor.username,
            action="campaign.certify_non_advertising",
            entity="campaign",
            entity_id=c.id,
            now=now,
            after={"version": c.version, "purpose": c.purpose, "advertising": False},
            reason="承認者が広告を含まないサービスのお知らせであることを確認（宣伝の文言なし）",
        )
    before = snapshot(c)
    c.status = APPROVED
    c.approved_by = actor.username
    c.approved_version = c.version
    c.updated_at = now
    await _log(session, c, "campaign.approve", actor, now, before)
    return c


async def schedule(
    session: AsyncSession,
    campaign_id: int,
    *,
    actor: Actor,
    now: dt.datetime,
    at: dt.datetime | None = None,
) -> Campaign:
    """Put an approved campaign on the schedule (at `at`, its own time, or now)."""
    roles.require(actor.role, "campaign.schedule")
    c = await get(session, campaign_id, for_update=True)
    if c.status != APPROVED or c.approved_version != c.version:
        raise Conflict("承認済みの最新版だけが配信予約できます")
    when = at or c.schedule_at
    if when is None and c.recurrence:
        when = recurrence.next_after(c.recurrence, now)
    when = when or now
    if when.tzinfo is None:
        raise Invalid([Problem("schedule_at", "タイムゾーン付きの日時を指定してください")])
    before = snapshot(c)
    c.schedule_at = max(when, now)
    c.status = SCHEDULED
    c.updated_at = now
    await _log(session, c, "campaign.schedule", actor, now, before)
    return c
