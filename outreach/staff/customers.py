"""Customers for staff: search, the customer page, requests taken by phone or at the store
(opt-out, cessation of use — APPI Art. 35, R9, R18), correction (Art. 34, R8) and the
disclosure export (Art. 33, R7). Every read of personal data is audited (R11).

The disclosure is `staff.disclosure`, the correction `staff.corrections`, the shared record
helpers `staff.customer_record`; their public names are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    ConsentEvent,
    Customer,
    DataRequest,
    EmailBasis,
    GateDecision,
    InsurancePolicy,
    OutboxMessage,
    Store,
    Vehicle,
)
from outreach.gate import consent
from outreach.staff import audit
from outreach.staff.corrections import _notice_task, correct, correction_notice, mark_notified
from outreach.staff.customer_record import (
    CORRECTABLE,
    IDENTITY_CHECKS,
    CustomerPage,
    Preferences,
    RequestTaken,
    _decision,
    _row,
    get,
    request_of,
)
from outreach.staff.disclosure import DELIVERIES, disclose, disclosure_document, export
from outreach.staff.errors import Invalid, Problem

__all__ = [
    "CORRECTABLE",
    "DELIVERIES",
    "IDENTITY_CHECKS",
    "REQUEST_SCOPES",
    "SOURCES",
    "CustomerHit",
    "CustomerPage",
    "Preferences",
    "RequestTaken",
    "SearchResult",
    "correct",
    "correction_notice",
    "disclose",
    "disclosure_document",
    "export",
    "get",
    "mark_notified",
    "normalise",
    "page",
    "request_of",
    "search",
    "take_request",
]

_INTERNAL = {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"}
REQUEST_SCOPES = {
    "all": "すべての連絡",
    "category:marketing": "すべての営業・キャンペーンのご案内",
    "category:survey": "アンケート",
    "category:service_notice": "点検・車検・保険満期のご案内",
    "channel:email": "電子メールでの連絡",
    "channel:post": "郵便での連絡",
    "channel:phone": "電話での連絡",
    "channel:visit": "訪問",
}
SOURCES = {"phone": "電話", "store": "店頭", "letter": "書面", "email": "電子メール"}
SEARCH_LIMIT = 20


@dataclass(frozen=True, slots=True)
class CustomerHit:
    """One customer a search found, as the result list shows them."""

    id: int
    external_id: str
    name_kanji: str
    name_kana: str | None
    prefecture: str | None
    city: str | None
    phone: str | None
    status: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[CustomerHit]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


_SPACES = re.compile(r"\s+")
_HIRAGANA = {c: c + 0x60 for c in range(ord("ぁ"), ord("ゖ") + 1)}


def normalise(text: str) -> str:
    """How search compares names: NFKC (full/half width, ﾅｶﾑﾗ → ナカムラ), no spaces of any
    width, hiragana as katakana."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).translate(_HIRAGANA)


def _like(text: str) -> str:
    """A LIKE pattern that matches `text` literally (%, _ and the escape escaped)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _squeezed(column: Any) -> Any:
    """The column without half- and full-width spaces (both engines)."""
    return func.replace(func.replace(column, " ", ""), "\u3000", "")


async def search(
    session: AsyncSession,
    query: str,
    *,
    actor: str,
    now: dt.datetime,
    limit: int = SEARCH_LIMIT,
    page: int = 1,
) -> SearchResult:
    """Customers whose number, name, kana, email or phone matches, however typed (IME
    full-width space, half-width kana, hiragana for the kana, a phone without hyphens);
    counted and paged. The search is audited."""
    raw = query.strip()
    if not raw:
        return SearchResult([], 0, 1, limit)
    if len(raw) > 100 or any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise Invalid([Problem("q", "検索語が正しくありません（100文字以内、制御文字なし）")])
    q = unicodedata.normalize("NFKC", raw).strip()
    key = normalise(q)
    digits = re.sub(r"\D", "", q)
    conditions = [
        Customer.external_id == q,
        func.upper(Customer.external_id) == q.upper(),
        func.lower(Customer.email) == q.lower(),
    ]
    if key:
        pattern = _like(key)
        conditions += [
            _squeezed(Customer.name_kanji).like(pattern, escape="\\"),
            _squeezed(Customer.name_kana).like(pattern, escape="\\"),
        ]
    if len(digits) >= 4 and re.fullmatch(r"[\d\s\-()+]+", q):
        bare = func.replace(func.replace(Customer.phone, "-", ""), " ", "")
        conditions.append(bare.like(_like(digits), escape="\\"))
    where = or_(*conditions)
    total = int(await session.scalar(select(func.count()).select_from(Customer).where(where)) or 0)
    page = max(1, page)
    stmt = (
        select(Customer).where(where).order_by(Customer.id).limit(limit).offset((page - 1) * limit)
    )
    found = list((await session.scalars(stmt)).all())
    await audit.record(
        session,
        actor=actor,
        action="customer.search",
        entity="customer",
        now=now,
        reason=f"q={raw[:80]} hits={total}",
    )
    hits = [
        CustomerHit(
            id=c.id,
            external_id=c.external_id,
            name_kanji=c.name_kanji,
            name_kana=c.name_kana,
            prefecture=c.prefecture,
            city=c.city,
            phone=c.phone,
            status=c.status,
        )
        for c in found
    ]
    return SearchResult(hits, total, page, limit)


async def page(
    session: AsyncSession, customer_id: int, *, actor: str, now: dt.datetime
) -> CustomerPage:
    """Everything the customer page shows (no sensitive records); the read is audited."""
    c = await get(session, customer_id)
    vehicles = (await session.scalars(select(Vehicle).where(Vehicle.user_id == c.id))).all()
    policies = (
        await session.scalars(select(InsurancePolicy).where(InsurancePolicy.customer_id == c.id))
    ).all()
    events = (
        await session.scalars(
            select(ConsentEvent).where(ConsentEvent.customer_id == c.id).order_by(ConsentEvent.seq)
        )
    ).all()
    messages = (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.customer_id == c.id)
            .order_by(OutboxMessage.id.desc())
            .limit(100)
        )
    ).all()
    decisions = (
        await session.scalars(
            select(GateDecision)
            .where(GateDecision.customer_id == c.id)
            .order_by(GateDecision.decided_at.desc(), GateDecision.id.desc())
            .limit(100)
        )
    ).all()
    requests = (
        await session.scalars(
            select(DataRequest)
            .where(DataRequest.customer_id == c.id)
            .order_by(DataRequest.id.desc())
        )
    ).all()
    bases = (await session.scalars(select(EmailBasis).where(EmailBasis.customer_id == c.id))).all()
    store = await session.get(Store, c.store_id) if c.store_id is not None else None
    await audit.read(session, actor=actor, customer_id=c.id, what="customer page", now=now)
    return CustomerPage(
        customer=_row(c, hide=_INTERNAL),
        preferences=Preferences(
            opt_outs=tuple(sorted(c.opt_outs or [])),
            use_suspended=c.use_suspended,
            consents=tuple(sorted(c.consents or [])),
        ),
        store=_row(store) if store else None,
        vehicles=tuple(_row(v) for v in vehicles),
        policies=tuple(_row(p) for p in policies),
        email_bases=tuple(_row(b) for b in bases),
        consent_events=tuple(_row(e, hide={"prev_hash", "hash"}) for e in events),
        messages=tuple(_row(m) for m in messages),
        decisions=tuple(_decision(d) for d in decisions),
        requests=tuple(_row(r) for r in requests),
    )


async def take_request(
    session: AsyncSession,
    customer_id: int,
    *,
    kind: str,
    scope: str,
    source: str,
    actor: str,
    now: dt.datetime,
    note: str = "",
) -> RequestTaken:
    """Record an opt-out or a cessation request taken by phone or at the store (R9, R18):
    the ledger event and the customer's preferences in this transaction, who took it, and
    for a cessation request an Art. 35 request row awaiting the notice of the decision."""
    problems = []
    if kind not in ("opt_out", "cessation"):
        problems.append(Problem("kind", "opt_out または cessation を指定してください"))
    if scope not in REQUEST_SCOPES:
        problems.append(Problem("scope", f"範囲は {', '.join(REQUEST_SCOPES)} のいずれかです"))
    if source not in SOURCES:
        problems.append(Problem("source", f"受付方法は {', '.join(SOURCES)} のいずれかです"))
    if len(note) > 400 or "\x00" in note:
        problems.append(Problem("note", "メモは400文字以内で入力してください"))
    if problems:
        raise Invalid(problems)
    await get(session, customer_id)
    evidence = {"taken_by": actor, "note": note, "route": source}
    changed = await consent.record_event(
        session,
        customer_id,
        action=kind,
        scope=scope,
        source=source,
        actor=actor,
        now=now,
        evidence=evidence,
    )
    request_id = await file_request(
        session, customer_id, kind=kind, scope=scope, source=source, actor=actor, now=now,
        note=note, changed=changed,
    )  # fmt: skip
    return RequestTaken(changed=changed, request_id=request_id)


async def file_request(
    session: AsyncSession,
    customer_id: int,
    *,
    kind: str,
    scope: str,
    source: str,
    actor: str,
    now: dt.datetime,
    note: str,
    changed: bool,
) -> int | None:
    """What follows the ledger event of a request staff took (the console and `outreach
    consent record` alike): for a cessation the Art. 35 request row and the task to notify
    the decision (once: a repeated request for what is already in effect adds no second
    request to answer); the audit row. The request row's id, for a cessation."""
    request_id = None
    if kind == "cessation" and changed:
        req = DataRequest(
            customer_id=customer_id,
            kind="cessation",
            received_at=now,
            received_by=actor,
            detail={"scope": scope, "source": source, "note": note},
            outcome="accepted",
        )
        session.add(req)
        await session.flush()
        request_id = req.id
        await _notice_task(session, req, now)
    await audit.record(
        session,
        actor=actor,
        action=f"customer.{kind}",
        entity="customer",
        entity_id=customer_id,
        now=now,
        after={"scope": scope, "source": source, "changed": changed},
        reason=note or None,
    )
    return request_id
