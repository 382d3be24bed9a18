"""Double opt-in again when an address changes (R16).

A customer who signed up for one address and whose record now holds another (a DMS import,
a correction) has no basis for the new address: the gate's basis is per (customer, address),
so advertising to it stops at once. `ask` then sends the new address a confirmation mail for
the purposes the customer had chosen; following its link records the opt-in for the new
address like any sign-up. One request per (customer, new address), ever: a re-run asks nobody
twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import Text, and_, exists, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses, bootstrap
from outreach.db.models import Customer, EmailBasis, SignupRequest
from outreach.gate.context import GateContext
from outreach.signup import form as form_mod
from outreach.signup import mail, service
from outreach.signup.form import CHANNELS, Form

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Asked:
    """What `ask` did: confirmation requests created, and how many of them went out now."""

    asked: int
    sent: int


@dataclass(frozen=True, slots=True)
class MailRun:
    """The scheduled job: `ask`, then the confirmation mails the send window held back."""

    asked: int
    sent: int
    pending_sent: int


async def due(session: AsyncSession) -> list[tuple[int, str, list[str]]]:
    """(customer id, current address, purposes chosen before) of every customer to ask."""
    c = Customer
    has_basis = exists().where(
        and_(
            EmailBasis.customer_id == c.id, EmailBasis.email == c.email,
            EmailBasis.withdrawn_at.is_(None),
        )
    )  # fmt: skip
    asked = exists().where(
        and_(
            SignupRequest.customer_id == c.id,
            SignupRequest.method == "address_change",
            SignupRequest.email == addresses.sql_normalised(c.email),
        )
    )
    rows = (
        await session.execute(
            select(c.id, c.email, c.consents)
            .where(
                c.email.is_not(None),
                c.status == "active",
                c.use_suspended.is_(False),
                sql_cast(c.consents, Text).like('%"email_opt_in:%'),
                ~has_basis,
                ~asked,
            )
            .order_by(c.id)
        )
    ).all()
    out = []
    for cid, email, consents in rows:
        scopes = set(consents or ())
        if service.address_scope(email) in scopes:
            continue  # this very address was confirmed before (its basis was withdrawn)
        purposes = sorted(s.removeprefix("purpose:") for s in scopes if s.startswith("purpose:"))
        out.append((cid, email, purposes))
    return out


async def ask(app: bootstrap.App, form: Form, ctx: GateContext) -> Asked:
    """Create the confirmation request of every changed address and send what the gate
    allows now (the rest goes with `mail.send_pending` when the send window opens)."""
    now = app.clock.now()
    async with app.sessions() as s:
        todo = await due(s)
    asked = sent = 0
    for cid, email, purposes in todo:
        chosen = tuple(p for p in purposes if form.offer(p) is not None) or tuple(
            o.purpose for o in form.offers if o.category == "marketing"
        )
        async with app.sessions.begin() as s:
            row = SignupRequest(
                token_hash=service.token_hash(secrets.token_urlsafe(32)),  # replaced on send
                email=addresses.normalise(email),
                purposes=list(chosen),
                channels=list(CHANNELS),
                method="address_change",
                form_version=form.version,
                form_text=form.text,
                form_hash=form.sha256,
                customer_id=cid,
                requested_at=now,
                expires_at=now + form.token_lifetime,
                sent=False,
            )
            s.add(row)
            await s.flush()
            rid = row.id
        asked += 1
        sent += await mail.send_one(app, form, ctx, rid)
    return Asked(asked=asked, sent=sent)


async def scheduled() -> MailRun:
    """Entry point of jobs/signup_mail.toml: ask changed addresses again, then send every
    confirmation mail the send window held back."""
    app = bootstrap.build()
    try:
        form = form_mod.for_app(app)
        ctx = app.policy.gate
        done = await ask(app, form, ctx)
        result = MailRun(done.asked, done.sent, await mail.send_pending(app, form, ctx))
        log.info("sign-up mail: %s", asdict(result))
        return result
    finally:
        await app.close()
