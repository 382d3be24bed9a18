"""The notice of an incident to the people affected, by email, THROUGH THE GATE (R12).

The notice is a legal obligation (APPI Art. 26(2)), not advertising and not a purpose of the
policy: it is asked of the gate as the legal notice `incident_notice` (purposes.toml
[legal]), which needs no consent, no notice version and lets no opt-out or 利用停止 stop it,
but is refused for an address that bounced or complained (the suppression list) or that is
not a valid address, and waits for the send window like every mail. Every decision is
recorded (gate_decisions); every mail sent is a row of the send log (outbox, status sent,
purpose incident_notice), its subject marked notified (via email, `outbox:<id>`), and one
history row of the incident says how many went, how many were refused and why. Those the
gate refused stay "not notified": the letter batch (`register.notify_by_letter`) or a call
reaches them.

The mail is sent first and recorded after the relay accepted it (like the sign-up mail): a
crash between the two leaves a person notified but not marked, and a re-run mails them
again, which for a leak notice is the safe error. On the real dealer file the go-live guard
refuses the run while the sender's details hold placeholders (the mail prints them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import settings as settings_mod
from outreach.clock import JST
from outreach.db.models import AuditEntry, Customer, IncidentSubject, OutboxMessage
from outreach.errors import OutreachError
from outreach.gate import batch, reasons, rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Request, permit_for
from outreach.gate.state import CustomerState
from outreach.incidents import register
from outreach.records import validate
from outreach.render import dealer as dealer_mod
from outreach.render import golive, message
from outreach.send import transports

log = logging.getLogger(__name__)

PURPOSE = "incident_notice"
KIND = "incident_notice"
ITEMS = frozenset({"name", "email"})
REQUEST = Request(purpose=PURPOSE, channel="email", items=ITEMS, advertising=False, kind=KIND)


@dataclass(slots=True)
class Result:
    sent: int = 0
    deferred: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # reason code → people
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "deferred": self.deferred,
            "refused": dict(self.refused),
            "failed": self.failed,
        }


def _valid(address: str | None) -> bool:
    if not address:
        return False
    try:
        validate.email(address)
    except ValueError:
        return False
    return True


def _jst(at: dt.datetime) -> str:
    j = at.astimezone(JST)
    return f"{j.year}年{j.month}月{j.day}日"


def _env(settings: settings_mod.Settings) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(settings.templates_dir) / "incidents"),
        autoescape=False,  # noqa: S701  (a text/plain mail)
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


async def notify_by_mail(
    session: AsyncSession,
    ctx: GateContext,
    incident_id: int,
    *,
    settings: settings_mod.Settings,
    actor: str,
    now: dt.datetime,
) -> Result:
    """Mail the notice to every affected person not yet notified whom the gate allows."""
    dealer_file = dealer_mod.path(settings)
    if dealer_file.name != dealer_mod.DEMO_FILE:
        golive.require_live(
            dealer_file, settings.config_dir / "purposes.toml", what="漏えい等の本人通知メール",
            policy_file=settings.config_dir / "policy.toml",
        )  # fmt: skip
    dealer = dealer_mod.load(dealer_file)
    inc = await register.get(session, incident_id)
    subjects = (
        await session.execute(
            select(IncidentSubject.id, IncidentSubject.customer_id, Customer.name_kanji)
            .join(Customer, Customer.id == IncidentSubject.customer_id)
            .where(IncidentSubject.incident_id == inc.id, IncidentSubject.notified_at.is_(None))
            .order_by(IncidentSubject.id)
        )
    ).all()
    result = Result()
    if not subjects:
        return result
    states = await batch.load_states(session, ctx, (s.customer_id for s in subjects), now)
    decisions = []
    for s in subjects:
        state = states.get(s.customer_id) or CustomerState(s.customer_id, status="missing")
        if state.email is not None and not _valid(state.email):
            # an address that cannot be delivered to is as unreachable as a bounced one
            state = dataclasses.replace(state, email_suppressed=True)
        decisions.append(rules.decide(ctx, state, REQUEST, now))
    ids = await batch.record(session, decisions)
    await session.commit()

    env = _env(settings)
    labels = [ctx.registry.items[i].label if i in ctx.registry.items else i for i in inc.items]
    subject_line = env.get_template("mail_subject.txt").render(dealer=dealer.view()).strip()
    stream = dealer.stream("reminder")
    transport = transports.from_settings(settings, pool_size=1)
    try:
        for s, d, did in zip(subjects, decisions, ids, strict=True):
            if not d.allowed:
                if d.deferred:
                    result.deferred += 1
                else:
                    result.refused.update(d.reasons)
                continue
            p = permit_for(d, did)
            to = states[s.customer_id].email
            assert to is not None  # allowed by email: the gate saw an address
            body = env.get_template("mail_body.txt").render(
                dealer=dealer.view(), name=s.name_kanji, title=inc.title,
                description=inc.description, discovered=_jst(inc.discovered_at),
                items="、".join(labels) or "（調査中）",
            )  # fmt: skip
            mid = message.message_id(f"incident{inc.id}.{s.customer_id}", settings.mail_domain)
            data = message.build(
                message.Mail(
                    sender=message.Address(settings.reminder_from, stream.display_name),
                    to=message.Address(to),
                    subject=subject_line,
                    text=body,
                    message_id=mid,
                    date=now,
                    headers=(("Auto-Submitted", "auto-generated"),),
                )
            )
            try:
                sent = await transport.send(p, settings.reminder_from, [to], data)
            except (OSError, OutreachError) as e:
                log.warning("incident %d: notice not sent: %s", inc.id, type(e).__name__)
                result.failed += 1
                continue
            if not sent.ok:
                result.failed += 1
                continue
            await _recorded(session, inc.id, s.id, s.customer_id, did, to, mid, now)
            result.sent += 1
    finally:
        await transport.close()
    session.add(
        AuditEntry(
            actor=actor,
            action="incident.notified",
            entity="incident",
            entity_id=str(inc.id),
            after={"via": "email", **result.as_dict()},
            at=now,
        )
    )
    await session.commit()
    return result


async def _recorded(
    session: AsyncSession,
    incident_id: int,
    subject_id: int,
    customer_id: int,
    decision_id: int,
    to: str,
    mid: str,
    now: dt.datetime,
) -> None:
    """The send-log row of one notice and its subject marked notified, in one transaction."""
    outbox_id = await session.scalar(
        insert(OutboxMessage).returning(OutboxMessage.id).values(
            idempotency_key=f"incident:{incident_id}:{customer_id}:email:{now.isoformat()}",
            customer_id=customer_id, decision_id=decision_id, purpose=PURPOSE,
            category="legal_obligation", channel="email", kind=KIND,
            template="incidents/mail_body.txt", items=sorted(ITEMS), advertising=False,
            status="sent", not_before=now, attempts=1, to_address=to, message_id=mid,
            created_at=now, sent_at=now,
        )
    )  # fmt: skip
    await session.execute(
        update(IncidentSubject)
        .where(IncidentSubject.id == subject_id)
        .values(notified_at=now, notified_via="email", notice_ref=f"outbox:{outbox_id}")
    )
    await session.commit()


def refused_text(result: Result) -> str:
    """The refusals in Japanese, for the CLI."""
    return "、".join(
        f"{reasons.ALL[c].ja if c in reasons.ALL else c}（{n:,} 名）"
        for c, n in sorted(result.refused.items())
    )
