"""The opt-out service: what the opt-out page offers and what each choice records.

Called by the web pages (link, one-click, preference page) and the mailto ingest; they hold
no rules of their own. Every change goes through `consent.record_event` in the caller's
transaction, with its evidence: the source, the message, the key id and a hash of the
client's User-Agent (never its address). Functions that find no customer for a valid token
raise NotFound; the web answers it exactly like any other unusable link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Campaign, Customer, DataRequest, EmailBasis, OutboxMessage
from outreach.errors import InputRejected, NotFound
from outreach.gate import consent
from outreach.gate.ledger_batch import LedgerBatcher
from outreach.optout.choices import CESSATION, MARKETING, Choice, choices
from outreach.optout.policy import MESSAGE, OptoutPolicy
from outreach.optout.tokens import TokenClaims

PAGE_VERSION = "optout-page/v1"
PREFERENCES_VERSION = "preferences-page/v1"


@dataclass(frozen=True, slots=True)
class Page:
    masked_email: str
    mail_label: str
    choices: tuple[Choice, ...]
    opt_outs: frozenset[str]
    use_suspended: bool


@dataclass(frozen=True, slots=True)
class PreferenceRow:
    scope: str
    label: str
    stopped: bool


@dataclass(frozen=True, slots=True)
class Preferences:
    masked_email: str
    rows: tuple[PreferenceRow, ...]
    use_suspended: bool


def one_click_scope(claims: TokenClaims, policy: OptoutPolicy) -> str:
    """The scope of a one-click or mailto opt-out, by the mail's class (config/optout.toml)."""
    setting = policy.one_click.advertising if claims.advertising else policy.one_click.service
    return claims.scope if setting == MESSAGE else setting


def mask_email(email: str | None) -> str:
    """`t***@g***.com`: enough for the customer to recognise, too little to be read off."""
    if not email or "@" not in email:
        return "（メールアドレス未登録）"
    local, _, domain = email.rpartition("@")
    host, dot, tld = domain.rpartition(".")
    masked_domain = f"{host[:1]}***{dot}{tld}" if host else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def ua_hash(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    return hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest()[:16]


def evidence(claims: TokenClaims, *, page: str, ua: str | None, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "outbox_id": claims.outbox_id,
        "token_scope": claims.scope,
        "kid": claims.kid,
        "page": page,
    }
    if ua:
        ev["ua_sha256"] = ua
    ev.update(extra)
    return ev


async def probe(session: AsyncSession) -> None:
    """The same lookup a valid token costs, for an id no customer has: evens response times."""
    await session.execute(select(Customer.id).where(Customer.id == -1))


async def page(session: AsyncSession, claims: TokenClaims, policy: OptoutPolicy) -> Page:
    """What GET /u/{token} shows. Reads only."""
    c = await _customer(session, claims)
    address = await _address(session, claims, c.email)
    name = await _campaign_name(session, claims)
    return Page(
        masked_email=mask_email(address),
        mail_label=policy.label(claims.scope, name),
        choices=tuple(choices(claims, policy, name)),
        opt_outs=frozenset(c.opt_outs or ()),
        use_suspended=bool(c.use_suspended),
    )


async def choose(
    session: AsyncSession,
    claims: TokenClaims,
    policy: OptoutPolicy,
    key: str,
    *,
    now: dt.datetime,
    ua: str | None,
) -> tuple[Choice, bool]:
    """Record the option picked on the page; (the choice, whether anything changed)."""
    await _customer(session, claims)
    name = await _campaign_name(session, claims)
    picked = next((c for c in choices(claims, policy, name) if c.key == key), None)
    if picked is None:
        raise InputRejected("unknown choice")
    changed = await consent.record_event(
        session,
        claims.customer_id,
        action=picked.action,
        scope=picked.scope,
        source="link",
        actor="customer",
        now=now,
        evidence=evidence(claims, page=PAGE_VERSION, ua=ua, choice=picked.key),
    )
    if changed and picked.action == "cessation":
        session.add(
            DataRequest(
                customer_id=claims.customer_id,
                kind="cessation",
                received_at=now,
                received_by="customer:optout_page",
                detail={"scope": picked.scope, "outbox_id": claims.outbox_id},
            )
        )
    return picked, changed


async def one_click(
    session: AsyncSession,
    claims: TokenClaims,
    policy: OptoutPolicy,
    *,
    now: dt.datetime,
    ua: str | None,
    source: str = "one_click",
) -> bool:
    """RFC 8058 one-click (or a mailto unsubscribe): opt out at once with the policy scope."""
    return await consent.record_event(
        session, claims.customer_id, **_one_click_event(claims, policy, now, ua, source)
    )


async def one_click_alone(
    ledger: LedgerBatcher,
    claims: TokenClaims,
    policy: OptoutPolicy,
    *,
    now: dt.datetime,
    ua: str | None,
) -> bool:
    """`one_click` in a transaction of its own (the web's one-click POST): the same event,
    committed before it returns, together with the one-clicks that arrive with it
    (`gate.ledger_batch`)."""
    return await ledger.record(claims.customer_id, **_one_click_event(claims, policy, now, ua))


def _one_click_event(
    claims: TokenClaims,
    policy: OptoutPolicy,
    now: dt.datetime,
    ua: str | None,
    source: str = "one_click",
) -> dict[str, Any]:
    return dict(
        action="opt_out",
        scope=one_click_scope(claims, policy),
        source=source,
        actor="customer",
        now=now,
        evidence=evidence(claims, page=source, ua=ua),
    )


async def preferences(
    session: AsyncSession, claims: TokenClaims, policy: OptoutPolicy
) -> Preferences:
    """What GET /preferences/{token} shows: every listed choice and every current opt-out."""
    c = await _customer(session, claims)
    stopped = frozenset(c.opt_outs or ())
    scopes = list(policy.preferences.scopes)
    scopes += sorted(s for s in stopped if s not in scopes and s != CESSATION)
    names = await _campaign_names(session, scopes)
    rows = tuple(
        PreferenceRow(s, policy.label(s, names.get(s)), s in stopped or CESSATION in stopped)
        for s in scopes
    )
    address = await _address(session, claims, c.email)
    return Preferences(mask_email(address), rows, bool(c.use_suspended))


async def set_preference(
    session: AsyncSession,
    claims: TokenClaims,
    policy: OptoutPolicy,
    *,
    scope: str,
    stop: bool,
    now: dt.datetime,
    ua: str | None,
) -> bool:
    """Stop or resume one scope from the preference page.

    Resuming is a new consent given by the customer: recorded as a `resubscribe` event with
    the page as evidence, and for advertising email (category:marketing) also as an opt-in
    basis for the address (特定電子メール法 Art. 3(1)(i), evidence per Art. 3(2), R15/R17).
    """
    c = await _customer(session, claims)
    allowed = set(policy.preferences.scopes) | set(c.opt_outs or ())
    if scope not in allowed or scope == CESSATION:
        raise InputRejected("unknown choice")
    changed = await consent.record_event(
        session,
        claims.customer_id,
        action="opt_out" if stop else "resubscribe",
        scope=scope,
        source="preference_page",
        actor="customer",
        now=now,
        legal_basis=None if stop else "opt_in",
        evidence=evidence(claims, page=PREFERENCES_VERSION, ua=ua),
    )
    if changed and not stop and scope == MARKETING and c.email:
        await _record_opt_in(session, c.id, c.email, now)
    return changed


async def _record_opt_in(
    session: AsyncSession, customer_id: int, email: str, now: dt.datetime
) -> None:
    basis = (
        await session.execute(
            select(EmailBasis).where(
                EmailBasis.customer_id == customer_id, EmailBasis.email == email
            )
        )
    ).scalar_one_or_none()
    text = "配信設定ページで「広告メールの受信を再開する」を選択（" + PREFERENCES_VERSION + "）"
    if basis is None:
        session.add(
            EmailBasis(
                customer_id=customer_id,
                email=email,
                basis="opt_in",
                evidence_at=now,
                evidence_method="preference_page",
                evidence_text=text,
            )
        )
    elif basis.withdrawn_at is not None:
        basis.basis = "opt_in"
        basis.evidence_at = now
        basis.evidence_method = "preference_page"
        basis.evidence_text = text
        basis.withdrawn_at = None


async def _customer(session: AsyncSession, claims: TokenClaims) -> Customer:
    c = await session.get(Customer, claims.customer_id)
    if c is None:
        raise NotFound("unknown link")
    return c


async def _address(session: AsyncSession, claims: TokenClaims, fallback: str | None) -> str | None:
    if claims.outbox_id is None:
        return fallback
    row = (
        await session.execute(
            select(OutboxMessage.to_address).where(
                OutboxMessage.id == claims.outbox_id,
                OutboxMessage.customer_id == claims.customer_id,
            )
        )
    ).first()
    return row[0] if row is not None and row[0] else fallback


async def _campaign_name(session: AsyncSession, claims: TokenClaims) -> str | None:
    return (await _campaign_names(session, [claims.scope])).get(claims.scope)


async def _campaign_names(session: AsyncSession, scopes: list[str]) -> dict[str, str]:
    ids = {}
    for s in scopes:
        kind, _, value = s.partition(":")
        if kind == "campaign" and value.isdigit():
            ids[int(value)] = s
    if not ids:
        return {}
    rows = await session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)))
    return {ids[r.id]: r.name for r in rows}
