"""A test send of a campaign to the signed-in staff member's own address, before approval.

The message is the campaign's text rendered by the one composer from synthetic sample data
(the made-up customer of `render.sample`, never a real customer's record), under a permit the
gate's rules issue for that synthetic customer (`gate.fake.sample_permit`), marked as a test in
the subject, with the sender display and List-Unsubscribe like every mail. It goes only to the
address of the staff account that asks — never to a customer, never to an address typed in —
and the send is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import settings as settings_mod
from outreach.clock import JST
from outreach.db.models import Campaign, StaffUser
from outreach.errors import OutreachError
from outreach.gate import fake
from outreach.gate.context import GateContext
from outreach.render import compose, context, message, sample, templates
from outreach.send import transports
from outreach.staff import audit, campaigns, preview, validation
from outreach.staff.errors import Invalid, Problem

SUBJECT_PREFIX = "【テスト送信】"


@dataclass(frozen=True, slots=True)
class TestSend:
    """A test send: whether the transport accepted it, its reply code, the staff address it
    went to and the subject as sent."""

    __test__ = False  # not a pytest test class

    ok: bool
    code: int | None
    to: str
    subject: str


async def staff_user(session: AsyncSession, username: str) -> StaffUser:
    user = await session.scalar(
        select(StaffUser).where(StaffUser.username == username, StaffUser.active.is_(True))
    )
    if user is None or not (user.email or "").strip():
        raise Invalid(
            [Problem("to", "テスト送信はご自身のスタッフアカウントのメールアドレスにだけ送れます")]
        )
    return user


async def send(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    rules: validation.Rules,
    *,
    to: str | None = None,
    actor: str,
    settings: settings_mod.Settings,
    now: dt.datetime,
) -> TestSend:
    """Send the campaign, rendered from sample data, to `actor`'s own address. `to`, if
    given, must be that address (the form shows it); any other address is refused."""
    user = await staff_user(session, actor)
    address = str(user.email).strip()
    if to and to.strip().lower() != address.lower():
        raise Invalid(
            [Problem("to", "テスト送信はご自身のスタッフアカウントのメールアドレスにだけ送れます")]
        )
    spec = campaigns.spec_of(c)
    items = validation.used_items(spec, rules)
    request = preview.request_for(c, "email", items)
    try:
        permit = fake.sample_permit(ctx, request, now)
    except OutreachError as e:
        raise Invalid([Problem("campaign", f"この内容では送信できません: {e}")]) from None
    mail = compose.mail_renderer(settings, ctx.registry)
    row = {
        "purpose": c.purpose,
        "advertising": c.advertising,
        "subject_template": c.subject_template,
        "text_template": c.text_template,
        "html_template": c.html_template,
    }
    base = settings.base_url.rstrip("/")
    try:
        tmpl = compose.campaign_template(
            f"campaign:{c.id}:test",
            row,
            c.version,
            ctx.registry,
            templates.file_loader(settings.templates_dir / "mail"),
        )
        roots = sample.context(mail.dealer, now.astimezone(JST).date(), base_url=base)
        roots["campaign"] = {"id": c.id, "name": c.name, "purpose": c.purpose}
        message_id = message.message_id(f"test{c.id}", settings.mail_domain)
        links = context.Links(
            id=0,
            message_id=message_id,
            optout_url=f"{base}/u/TEST-SEND-SAMPLE",
            preferences_url=f"{base}/preferences/TEST-SEND-SAMPLE",
            advertising=permit.advertising,
        )
        rendered = mail.render(tmpl, permit, roots, links)
        stream = mail.dealer.stream("campaign")
        built = message.build(
            message.Mail(
                sender=message.Address(settings.campaign_from, stream.display_name),
                to=message.Address(address, user.display_name),
                subject=SUBJECT_PREFIX + rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=message_id,
                date=now,
                list_id=message.list_id(stream.list_name, "campaigns", settings.mail_domain),
                list_unsubscribe=[links.optout_url],
            )
        )
    except (OutreachError, ValueError) as e:
        raise Invalid([Problem("campaign", f"テスト送信のメールを作れません: {e}")]) from None
    transport = transports.from_settings(settings, pool_size=1)
    try:
        result = await transport.send(permit, settings.campaign_from, [address], built)
    finally:
        await transport.close()
    await audit.record(
        session,
        actor=actor,
        action="campaign.test_send",
        entity="campaign",
        entity_id=c.id,
        now=now,
        after={"to": user.username, "version": c.version, "data": "sample"},
        reason=f"{result.code} {result.detail}"[:400],
    )
    return TestSend(
        ok=result.ok, code=result.code, to=address, subject=SUBJECT_PREFIX + rendered.subject
    )
