"""The confirmation mail of a sign-up: a transactional mail to the address that asked.

It is not advertising (it only asks to confirm) and it goes to an address that may belong to
no customer yet, so it is not an outbox row (those are gated sends to customers): it is built
by the same MIME writer and sent through the configured transport, as the staff test send is
(`outreach.staff.testsend`). Its envelope sender is the bounce address of every other mail,
so a bounce of it comes back to the report mailbox like the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import jinja2

from outreach import settings as settings_mod
from outreach.clock import JST, SystemClock
from outreach.gate import transactional
from outreach.render import message
from outreach.send import transports
from outreach.send.protocol import SendResult
from outreach.signup.form import Form

log = logging.getLogger(__name__)


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signup/confirm/{token}"


def build(
    form: Form,
    *,
    to: str,
    token: str,
    purposes: tuple[str, ...],
    request_id: int,
    expires_at: dt.datetime,
    settings: settings_mod.Settings,
    now: dt.datetime,
) -> tuple[str, bytes]:
    """(Message-ID, the complete message)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(settings.templates_dir) / "web" / "signup"),
        autoescape=False,  # noqa: S701  (a text/plain mail)
        undefined=jinja2.StrictUndefined,
    )
    ctx = {
        "dealer": form.dealer,
        "purposes": [o.label for p in purposes if (o := form.offer(p)) is not None],
        "link": link(settings.base_url, token),
        "expires": _jst(expires_at),
    }
    subject = env.get_template("mail_subject.txt").render(ctx).strip()
    body = env.get_template("mail_body.txt").render(ctx)
    stream = form.dealer.stream("campaign")
    mid = message.message_id(f"signup{request_id}", settings.mail_domain)
    data = message.build(
        message.Mail(
            sender=message.Address(settings.campaign_from, stream.display_name),
            to=message.Address(to),
            subject=subject,
            text=body,
            message_id=mid,
            date=now,
            headers=(("Auto-Submitted", "auto-generated"),),
        )
    )
    return mid, data


async def send(settings: settings_mod.Settings, to: str, data: bytes) -> SendResult:
    transport = transports.from_settings(settings, pool_size=1)
    permit = transactional.confirmation_permit(SystemClock().now())
    try:
        return await transport.send(permit, settings.reminder_from, [to], data)
    finally:
        await transport.close()


def _jst(at: dt.datetime) -> str:
    j = at.astimezone(JST)
    return f"{j.year}年{j.month}月{j.day}日 {j.hour}時{j.minute:02d}分"
