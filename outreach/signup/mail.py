"""The confirmation mail of a sign-up: a transactional mail to the address that asked.

It is not advertising (it only asks to confirm), it carries no customer data but the address
the person typed, and it may go to an address that belongs to no customer yet, so it is no
outbox row (those are gated sends to customers). It still goes out only under a Permit of the
gate's real rules (`gate.fake.FakeGate` decides for the requester as the only state it holds:
the address, the current policy notice, no customer record): the purpose the person asked
for, by email, not advertising, within the send window. Outside the window (21:00–8:00) the
gate defers it: the request stays unsent and `send_pending` (jobs/signup_mail.toml) sends it
when the window opens, with a fresh link. It is built by the same MIME writer and sent through
the configured transport, as the staff test send is; its envelope sender is the bounce address
of every other mail, so its bounce comes back to the report mailbox like the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from pathlib import Path

import jinja2
from sqlalchemy import select, update

from outreach import bootstrap
from outreach import settings as settings_mod
from outreach.clock import JST
from outreach.db.models import SignupRequest
from outreach.errors import GateRefused, OutreachError
from outreach.gate import fake
from outreach.gate.context import GateContext
from outreach.gate.decision import Permit, Request
from outreach.gate.state import CustomerState
from outreach.render import message
from outreach.signup import service
from outreach.signup.form import Form

log = logging.getLogger(__name__)
REQUESTER = 0  # the requester is no customer record (yet)


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signup/confirm/{token}"


def permit(ctx: GateContext, to: str, purposes: tuple[str, ...], now: dt.datetime) -> Permit:
    """The gate's permit for the confirmation mail, or GateRefused (e.g. outside the window)."""
    state = CustomerState(
        customer_id=REQUESTER, email=to, notice_version=ctx.registry.version, status="active"
    )
    request = Request(
        purpose=purposes[0] if purposes else "p3",
        channel="email",
        items=frozenset({"email"}),
        advertising=False,
        kind="signup_confirmation",
    )
    return fake.FakeGate(ctx, [state]).permit(REQUESTER, request, now)


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


async def send_one(
    app: bootstrap.App, form: Form, ctx: GateContext, request_id: int, token: str | None = None
) -> bool:
    """Send the confirmation mail of one unsent request now, if the gate allows it; a fresh
    token replaces the stored one when none is given. True when the relay accepted it."""
    now = app.clock.now()
    async with app.sessions() as s:
        row = await s.get(SignupRequest, request_id)
    if row is None or row.sent or row.confirmed_at is not None or row.expires_at <= now:
        return False
    purposes = tuple(row.purposes)
    try:
        p = permit(ctx, row.email, purposes, now)
    except GateRefused:
        return False  # deferred (outside the send window): send_pending sends it later
    if token is None:
        token = secrets.token_urlsafe(32)
        async with app.sessions.begin() as s:
            await s.execute(
                update(SignupRequest)
                .where(SignupRequest.id == request_id)
                .values(token_hash=service.token_hash(token))
            )
    _, data = build(
        form, to=row.email, token=token, purposes=purposes, request_id=row.id,
        expires_at=row.expires_at, settings=app.settings, now=now,
    )  # fmt: skip
    transport = app.transport(pool_size=1)
    try:
        result = await transport.send(p, app.settings.reminder_from, [row.email], data)
    except (OSError, OutreachError) as e:  # logged without the address; retried by the job
        log.warning("sign-up %d: confirmation mail not sent: %s", row.id, type(e).__name__)
        return False
    finally:
        await transport.close()
    if not result.ok:
        log.warning("sign-up %d: confirmation mail refused: %s", row.id, result.code)
        return False
    async with app.sessions.begin() as s:
        await service.mark_sent(s, row.id)
    return True


async def send_pending(app: bootstrap.App, form: Form, ctx: GateContext) -> int:
    """Send every unsent, unexpired confirmation mail the gate now allows; how many went."""
    now = app.clock.now()
    async with app.sessions() as s:
        ids = (
            await s.scalars(
                select(SignupRequest.id)
                .where(
                    SignupRequest.sent.is_(False),
                    SignupRequest.confirmed_at.is_(None),
                    SignupRequest.expires_at > now,
                )
                .order_by(SignupRequest.id)
            )
        ).all()
    return sum([await send_one(app, form, ctx, rid) for rid in ids])


def _jst(at: dt.datetime) -> str:
    j = at.astimezone(JST)
    return f"{j.year}年{j.month}月{j.day}日 {j.hour}時{j.minute:02d}分"
