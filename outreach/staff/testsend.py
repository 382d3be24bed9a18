"""A test send of a campaign to a staff member's own address, before approval.

The message is one of the preview's samples (a real allowed customer's rendering, so staff
see exactly what will go out), marked as a test in the subject, sent only to the address of
an active staff account — never to a customer, never to an arbitrary address — and audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import settings as settings_mod
from outreach.db.models import Campaign, StaffUser
from outreach.gate.context import GateContext
from outreach.render import dealer as dealer_mod
from outreach.render import message
from outreach.send import transports
from outreach.staff import audit, preview, validation
from outreach.staff.errors import Invalid, Problem

SUBJECT_PREFIX = "【テスト送信】"


async def staff_address(session: AsyncSession, address: str) -> StaffUser:
    user = await session.scalar(
        select(StaffUser).where(StaffUser.email == address.strip(), StaffUser.active.is_(True))
    )
    if user is None:
        raise Invalid([Problem("to", "テスト送信はスタッフ登録済みのメールアドレスにだけ送れます")])
    return user


async def send(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    rules: validation.Rules,
    *,
    to: str,
    actor: str,
    settings: settings_mod.Settings,
    now: dt.datetime,
) -> dict[str, Any]:
    user = await staff_address(session, to)
    kit = preview.kit(settings.templates_dir, settings.config_dir, settings.base_url)
    p = await preview.preview(
        session, ctx, c, rules, now=now, actor=actor, sample_kit=kit, with_samples=True
    )
    if not p.samples:
        raise Invalid([Problem("audience", "送信できる対象者がいないため、見本を作れません")])
    sample = p.samples[0]
    dealer = dealer_mod.load(settings.config_dir / "dealer.toml")
    stream = dealer.stream("campaign")
    built = message.build(
        message.Mail(
            sender=message.Address(settings.campaign_from, stream.display_name),
            to=message.Address(user.email or to, user.display_name),
            subject=SUBJECT_PREFIX + sample.subject,
            text=sample.text,
            html=sample.html or None,
            message_id=message.message_id(f"test{c.id}", settings.mail_domain),
            date=now,
            list_id=message.list_id(stream.list_name, "campaigns", settings.mail_domain),
        )
    )
    transport = transports.from_settings(settings, pool_size=1)
    try:
        result = await transport.send(settings.campaign_from, [user.email or to], built)
    finally:
        await transport.close()
    await audit.record(
        session,
        actor=actor,
        action="campaign.test_send",
        entity="campaign",
        entity_id=c.id,
        now=now,
        after={"to": user.username, "version": c.version, "sample_customer": sample.customer_id},
        reason=f"{result.code} {result.detail}"[:400],
    )
    return {
        "ok": result.ok,
        "code": result.code,
        "to": user.email,
        "subject": SUBJECT_PREFIX + sample.subject,
    }
