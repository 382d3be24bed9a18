"""Sign-up requests and their confirmation (double opt-in), with the evidence (R16, R17).

`request` stores what was shown and asked and returns the confirmation token (only its
SHA-256 is kept). It never looks at the customer records, so its answer and its timing are the
same whether the address belongs to a customer or not (no enumeration). Too many requests for
one address within a day are accepted in silence (no row, no mail); too many from one client
within an hour are refused (`Throttled`, HTTP 429).

`confirm` is one transaction: the customers with that address (or a new customer record when
there is none) get an `opt_in` email basis and, in the hash-chained consent ledger, a grant
`email_opt_in:<address hash>` whose evidence holds everything R17 asks for — when, how (web
form or showroom tablet, and which staff member), the exact text and form version shown, the
request's and the confirmation's client addresses — followed by a grant per purpose chosen
and a resubscribe where the person had opted out of that category. The ledger is append-only
and chained, so the evidence cannot be changed afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.clock import JST
from outreach.db.models import Customer, EmailBasis, SignupRequest
from outreach.errors import InputRejected, NotFound, OutreachError
from outreach.gate import consent
from outreach.signup.form import CHANNELS, Form

# method → the consent ledger's source
METHODS = {
    "web_form": "signup_form",
    "showroom_tablet": "signup_store",
    "address_change": "signup_reconfirm",  # asked again after the address changed (R16)
}
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class Throttled(OutreachError):
    """Too many sign-ups from one client address."""


@dataclass(frozen=True)
class Submission:
    email: str
    name: str
    purposes: tuple[str, ...]
    agreed: bool
    form_version: str


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str  # Japanese, for the person filling in the form


@dataclass(frozen=True, slots=True)
class Requested:
    request_id: int | None  # None: accepted in silence (the address's daily limit)
    token: str | None
    email: str


@dataclass(frozen=True, slots=True)
class Pending:
    request_id: int
    email: str
    purposes: tuple[str, ...]
    expires_at: dt.datetime
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Confirmed:
    request_id: int
    customer_ids: tuple[int, ...]
    new_customer: bool
    already: bool  # the link had been followed before: nothing new recorded


def validate(sub: Submission, form: Form) -> list[Problem]:
    out = []
    email = sub.email.strip()
    if not email:
        out.append(Problem("email", "メールアドレスを入力してください"))
    elif len(email) > 254 or not _ADDRESS.match(addresses.normalise(email)):
        out.append(Problem("email", "メールアドレスの形式が正しくありません"))
    if len(sub.name) > 100:
        out.append(Problem("name", "お名前は100文字以内で入力してください"))
    if not sub.purposes:
        out.append(Problem("purposes", "受け取りたいご案内を1つ以上お選びください"))
    elif any(form.offer(p) is None for p in sub.purposes):
        out.append(Problem("purposes", "選べないご案内が含まれています"))
    if not sub.agreed:
        out.append(Problem("agree", "内容をご確認のうえ、同意のチェックを入れてください"))
    if sub.form_version != form.version:
        out.append(
            Problem(
                "form", "お申し込みの内容が更新されました。もう一度ご確認のうえお申し込みください"
            )
        )
    return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def address_scope(email: str) -> str:
    """The ledger scope of one address's opt-in: no address in the scope string itself."""
    return "email_opt_in:" + hashlib.sha256(addresses.normalise(email).encode()).hexdigest()[:24]


async def request(
    session: AsyncSession,
    form: Form,
    sub: Submission,
    *,
    method: str,
    remote_addr: str | None,
    user_agent: str | None,
    staff_user: str | None,
    now: dt.datetime,
) -> Requested:
    if method not in METHODS:
        raise InputRejected(f"unknown sign-up method {method!r}")
    if method == "showroom_tablet" and not staff_user:
        raise InputRejected("a showroom sign-up names the staff member")
    email = addresses.normalise(sub.email)
    r = SignupRequest
    if method == "web_form" and remote_addr:
        recent = await session.scalar(
            select(func.count())
            .select_from(r)
            .where(r.remote_addr == remote_addr, r.requested_at > now - dt.timedelta(hours=1))
        )
        if int(recent or 0) >= form.limits.per_client_per_hour:
            raise Throttled("too many sign-ups from this client")
    today = await session.scalar(
        select(func.count())
        .select_from(r)
        .where(r.email == email, r.requested_at > now - dt.timedelta(days=1))
    )
    if int(today or 0) >= form.limits.per_address_per_day:
        return Requested(None, None, email)
    token = secrets.token_urlsafe(32)
    row = SignupRequest(
        token_hash=token_hash(token),
        email=email,
        name=sub.name.strip() or None,
        purposes=sorted(set(sub.purposes)),
        channels=list(CHANNELS),
        method=method,
        form_version=form.version,
        form_text=form.text,
        form_hash=form.sha256,
        remote_addr=(remote_addr or None) and remote_addr[:64],
        user_agent=(user_agent or None) and user_agent[:400],
        staff_user=staff_user,
        requested_at=now,
        expires_at=now + form.token_lifetime,
        sent=False,
    )
    session.add(row)
    await session.flush()
    return Requested(row.id, token, email)


async def mark_sent(session: AsyncSession, request_id: int) -> None:
    """The relay accepted the confirmation mail."""
    await session.execute(
        update(SignupRequest).where(SignupRequest.id == request_id).values(sent=True)
    )


async def pending(session: AsyncSession, token: str, now: dt.datetime) -> Pending:
    """The request behind a confirmation link; NotFound when unknown or expired."""
    row = await session.scalar(
        select(SignupRequest).where(SignupRequest.token_hash == token_hash(token))
    )
    if row is None or (row.confirmed_at is None and row.expires_at <= now):
        raise NotFound("no such sign-up")
    return Pending(
        row.id, row.email, tuple(row.purposes), row.expires_at, row.confirmed_at is not None
    )


async def confirm(
    session: AsyncSession,
    form: Form,
    token: str,
    *,
    remote_addr: str | None,
    user_agent: str | None,
    now: dt.datetime,
) -> Confirmed:
    """Complete a sign-up (see the module docstring); NotFound for an unknown or expired
    link. Following the link again records nothing new."""
    stmt = select(SignupRequest).where(SignupRequest.token_hash == token_hash(token))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    else:  # take SQLite's write lock first: two clicks at once must not both confirm
        await session.execute(
            update(SignupRequest)
            .where(SignupRequest.token_hash == token_hash(token))
            .values(sent=SignupRequest.sent)
        )
    row = await session.scalar(stmt)
    if row is None or (row.confirmed_at is None and row.expires_at <= now):
        raise NotFound("no such sign-up")
    if row.confirmed_at is not None:
        ids = (row.customer_id,) if row.customer_id is not None else ()
        return Confirmed(row.id, ids, False, True)
    customers = list(
        (
            await session.scalars(
                select(Customer)
                .where(addresses.sql_normalised(Customer.email) == row.email)
                .order_by(Customer.id)
            )
        ).all()
    )
    new = not customers
    if new:
        c = Customer(
            external_id=f"W{row.id:09d}",
            name_kanji=row.name or "（ウェブ登録のお客様）",
            email=row.email,
            status="active",
            acquisition="direct",
            acquired_on=now.astimezone(JST).date(),
            notice_version=form.policy_version,
            opt_outs=[],
            consents=[],
            use_suspended=False,
            ledger_seq=0,
            created_at=now,
            updated_at=now,
        )
        session.add(c)
        await session.flush()
        customers = [c]
    evidence = _evidence(row, remote_addr, user_agent, now)
    source = METHODS[row.method]
    actor = row.staff_user or "customer"
    categories = {o.category for p in row.purposes if (o := form.offer(p)) is not None}
    for c in customers:
        assert c.email is not None
        await _basis(session, c.id, c.email, row, now)
        opted_out = set(c.opt_outs or ())
        cid = c.id
        await consent.record_event(
            session,
            cid,
            action="grant",
            scope=address_scope(row.email),
            source=source,
            actor=actor,
            now=now,
            legal_basis="opt_in",
            evidence=evidence,
        )
        ref = {"signup_id": row.id, "form_version": row.form_version}
        for p in row.purposes:
            await consent.record_event(
                session, cid, action="grant", scope=f"purpose:{p}", source=source,
                actor=actor, now=now, legal_basis="opt_in", evidence=ref,
            )  # fmt: skip
        for cat in sorted(categories):
            if f"category:{cat}" in opted_out:
                await consent.record_event(
                    session, cid, action="resubscribe", scope=f"category:{cat}", source=source,
                    actor=actor, now=now, legal_basis="opt_in", evidence=ref,
                )  # fmt: skip
    row.confirmed_at = now
    row.confirm_addr = (remote_addr or None) and remote_addr[:64]
    row.customer_id = customers[0].id
    await session.flush()
    return Confirmed(row.id, tuple(c.id for c in customers), new, False)


def _evidence(
    row: SignupRequest, remote_addr: str | None, user_agent: str | None, now: dt.datetime
) -> dict[str, Any]:
    return {
        "signup_id": row.id,
        "email": row.email,
        "method": row.method,
        "staff_user": row.staff_user,
        "purposes": list(row.purposes),
        "channels": list(row.channels),
        "form_version": row.form_version,
        "form_sha256": row.form_hash,
        "form_text": row.form_text,
        "requested_at": row.requested_at.astimezone(dt.UTC).isoformat(),
        "requested_at_jst": _jst(row.requested_at),
        "request_ip": row.remote_addr,
        "request_user_agent": row.user_agent,
        "confirmed_at": now.astimezone(dt.UTC).isoformat(),
        "confirmed_at_jst": _jst(now),
        "confirm_ip": (remote_addr or None) and remote_addr[:64],
        "confirm_user_agent": (user_agent or None) and user_agent[:400],
    }


async def _basis(
    session: AsyncSession, customer_id: int, email: str, row: SignupRequest, now: dt.datetime
) -> None:
    """The gate's current basis for (customer, address): opt_in with this evidence, unless a
    basis is already in force (it stays; the ledger holds this sign-up's evidence anyway)."""
    b = await session.scalar(
        select(EmailBasis).where(EmailBasis.customer_id == customer_id, EmailBasis.email == email)
    )
    method = "double_opt_in_" + {"showroom_tablet": "showroom", "address_change": "reconfirm"}.get(
        row.method, "web"
    )
    if b is None:
        session.add(
            EmailBasis(
                customer_id=customer_id,
                email=email,
                basis="opt_in",
                evidence_at=now,
                evidence_method=method,
                evidence_text=row.form_text,
                evidence_ref=f"signup:{row.id} form {row.form_version} sha256:{row.form_hash[:16]}",
            )
        )
    elif b.withdrawn_at is not None:
        b.basis = "opt_in"
        b.evidence_at = now
        b.evidence_method = method
        b.evidence_text = row.form_text
        b.evidence_ref = f"signup:{row.id} form {row.form_version} sha256:{row.form_hash[:16]}"
        b.withdrawn_at = None
    await session.flush()


def _jst(at: dt.datetime) -> str:
    """The time as the customer page and the disclosure show it (JST, Japanese form)."""
    return at.astimezone(JST).strftime("%Y年%-m月%-d日 %H:%M:%S")
