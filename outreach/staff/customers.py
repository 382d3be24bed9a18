"""Customers for staff: search, the customer page, requests taken by phone or at the store
(opt-out, cessation of use — APPI Art. 35, R9, R18), correction (Art. 34, R8) and the
disclosure export (Art. 33, R7). Every read of personal data is audited (R11).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    ConsentEvent,
    Customer,
    DataRequest,
    EmailBasis,
    Flag,
    GateDecision,
    InsurancePolicy,
    OutboxMessage,
    ProvisionRecord,
    SendAttempt,
    SensitiveRecord,
    Store,
    Vehicle,
)
from outreach.errors import NotFound
from outreach.gate import consent
from outreach.provision import records as provision_records
from outreach.staff import audit, validation
from outreach.staff.errors import Invalid, Problem

_INTERNAL = {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"}
# Fields a correction (Art. 34) may change, with their Japanese labels.
CORRECTABLE = {
    "name_kanji": "氏名",
    "name_kana": "氏名（カナ）",
    "postal_code": "郵便番号",
    "prefecture": "都道府県",
    "city": "市区町村",
    "address": "住所",
    "phone": "電話番号",
    "email": "メールアドレス",
    "birth_date": "生年月日",
}
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


def _row(obj: Any, *, hide: set[str] | None = None) -> dict[str, Any]:
    table: Table = obj.__table__
    return {c.key: getattr(obj, c.key) for c in table.c if c.key not in (hide or set())}


async def get(session: AsyncSession, customer_id: int) -> Customer:
    c = await session.get(Customer, customer_id)
    if c is None:
        raise NotFound(f"顧客 {customer_id} はいません")
    return c


@dataclass(frozen=True)
class SearchResult:
    hits: list[dict[str, Any]]
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
        {
            "id": c.id,
            "external_id": c.external_id,
            "name_kanji": c.name_kanji,
            "name_kana": c.name_kana,
            "prefecture": c.prefecture,
            "city": c.city,
            "phone": c.phone,
            "status": c.status,
        }
        for c in found
    ]
    return SearchResult(hits, total, page, limit)


async def page(
    session: AsyncSession, customer_id: int, *, actor: str, now: dt.datetime
) -> dict[str, Any]:
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
    return {
        "customer": _row(c, hide=_INTERNAL),
        "preferences": {
            "opt_outs": sorted(c.opt_outs or []),
            "use_suspended": c.use_suspended,
            "consents": sorted(c.consents or []),
        },
        "store": _row(store) if store else None,
        "vehicles": [_row(v) for v in vehicles],
        "policies": [_row(p) for p in policies],
        "email_bases": [_row(b) for b in bases],
        "consent_events": [_row(e, hide={"prev_hash", "hash"}) for e in events],
        "messages": [_row(m) for m in messages],
        "decisions": [_decision(d) for d in decisions],
        "requests": [_row(r) for r in requests],
    }


def _decision(d: GateDecision) -> dict[str, Any]:
    row = _row(d)
    row["reasons"] = d.reasons.split() if d.reasons else []
    return row


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
) -> dict[str, Any]:
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
    request_id = None
    if kind == "cessation":
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
    return {"changed": changed, "request_id": request_id}


async def correct(
    session: AsyncSession,
    customer_id: int,
    *,
    field: str,
    value: str,
    reason: str,
    actor: str,
    now: dt.datetime,
    outcome: str = "corrected",
    identity: str = "",
) -> dict[str, Any]:
    """Art. 34: correct one field (or record a refusal), with the before/after audit row,
    the request row, and a task to notify the customer of the outcome (R8)."""
    problems = []
    new: Any = None
    if field not in CORRECTABLE:
        problems.append(Problem("field", "訂正できない項目です"))
    else:  # the import's validator for the field: no control characters, a phone is a phone
        new, bad = validation.correction_value(field, value)
        problems += bad
    if outcome not in ("corrected", "refused"):
        problems.append(Problem("outcome", "「訂正する」か「訂正しない」を選んでください"))
    if not reason.strip() or len(reason) > 400:
        problems.append(Problem("reason", "調査結果・理由を400文字以内で入力してください"))
    problems += validation.controls("reason", reason, allow=validation.FREE_TEXT_LAYOUT)
    if identity and identity not in IDENTITY_CHECKS:
        problems.append(Problem("identity", "本人確認の方法を選んでください"))
    if problems:
        raise Invalid(problems)
    c = await get(session, customer_id)
    old = getattr(c, field)
    if outcome == "corrected":
        setattr(c, field, new)
        c.updated_at = now
    before, after = {field: _plain(old)}, {field: _plain(new if outcome == "corrected" else old)}
    req = DataRequest(
        customer_id=c.id,
        kind="correction",
        received_at=now,
        received_by=actor,
        detail={
            "field": field,
            "before": before[field],
            "requested": _plain(new),
            "reason": reason,
            "identity_check": identity or None,
            "prepared_by": actor,
        },
        outcome=outcome,
    )
    session.add(req)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="customer.correct" if outcome == "corrected" else "customer.correct_refused",
        entity="customer",
        entity_id=c.id,
        now=now,
        before=before,
        after=after,
        reason=reason,
    )
    await _notice_task(session, req, now)
    return {"request_id": req.id, "before": before, "after": after, "outcome": outcome}


def _has_control(text: str) -> bool:
    return bool(validation.controls("-", text))


async def _notice_task(session: AsyncSession, req: DataRequest, now: dt.datetime) -> None:
    """The customer must be told the outcome without delay (Art. 34(3), 35(7)): a flag for
    staff until `mark_notified` records the notice."""
    session.add(
        Flag(
            key=f"request_notice:{req.id}",
            kind="request_notice",
            customer_id=req.customer_id,
            detail={"request_id": req.id, "kind": req.kind, "outcome": req.outcome},
            created_at=now,
        )
    )
    await session.flush()


async def mark_notified(
    session: AsyncSession, request_id: int, *, method: str, actor: str, now: dt.datetime
) -> None:
    req = await session.get(DataRequest, request_id)
    if req is None:
        raise NotFound(f"請求 {request_id} はありません")
    req.notified_at = now
    req.detail = {**req.detail, "notice_method": method}
    flag = await session.scalar(select(Flag).where(Flag.key == f"request_notice:{req.id}"))
    if flag is not None:
        flag.resolved_at = now
    await audit.record(
        session,
        actor=actor,
        action="request.notified",
        entity="data_request",
        entity_id=req.id,
        now=now,
        after={"method": method},
    )


async def export(
    session: AsyncSession,
    customer_id: int,
    *,
    actor: str,
    now: dt.datetime,
    delivery: str = "electronic",
) -> dict[str, Any]:
    """Art. 33 disclosure: everything held about the person — the record, vehicles, policies,
    email bases with their evidence, the consent history, the send log with every attempt,
    the gate's decisions with reasons, third-party provision records, past requests, and the
    sensitive records held with their consent (disclosed to the person; never used
    elsewhere). The request and the read are logged."""
    c = await get(session, customer_id)

    async def rows(model: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
        q = select(model).where(*where)
        if order is not None:
            q = q.order_by(order)
        return [_row(x) for x in (await session.scalars(q)).all()]

    outbox_ids = select(OutboxMessage.id).where(OutboxMessage.customer_id == c.id)
    req = DataRequest(
        customer_id=c.id,
        kind="disclosure",
        received_at=now,
        received_by=actor,
        detail={"delivery": delivery},
        outcome="disclosed",
        notified_at=now,
    )
    session.add(req)
    await session.flush()
    data = {
        "generated_at": now.isoformat(),
        "customer": _row(c, hide={"ledger_seq", "ledger_head"}),
        "vehicles": await rows(Vehicle, Vehicle.user_id == c.id, order=Vehicle.id),
        "insurance_policies": await rows(
            InsurancePolicy, InsurancePolicy.customer_id == c.id, order=InsurancePolicy.id
        ),
        "email_bases": await rows(EmailBasis, EmailBasis.customer_id == c.id, order=EmailBasis.id),
        "consent_history": await rows(
            ConsentEvent, ConsentEvent.customer_id == c.id, order=ConsentEvent.seq
        ),
        "send_log": await rows(
            OutboxMessage, OutboxMessage.customer_id == c.id, order=OutboxMessage.id
        ),
        "send_attempts": await rows(
            SendAttempt, SendAttempt.outbox_id.in_(outbox_ids), order=SendAttempt.id
        ),
        "gate_decisions": [
            _decision(d)
            for d in (
                await session.scalars(
                    select(GateDecision)
                    .where(GateDecision.customer_id == c.id)
                    .order_by(GateDecision.id)
                )
            ).all()
        ],
        "provision_records": await rows(
            ProvisionRecord, ProvisionRecord.customer_id == c.id, order=ProvisionRecord.id
        ),
        # the same records as the person reads them (Art. 33(5)): date, provided/received,
        # counterparty, items, basis, how obtained — see outreach.provision.records
        "provision_log": await provision_records.for_customer(session, c.id),
        "requests": await rows(DataRequest, DataRequest.customer_id == c.id, order=DataRequest.id),
        "sensitive_records": await rows(
            SensitiveRecord, SensitiveRecord.customer_id == c.id, order=SensitiveRecord.id
        ),
    }
    await audit.record(
        session,
        actor=actor,
        action="customer.export",
        entity="customer",
        entity_id=c.id,
        now=now,
        reason=f"Art. 33 disclosure ({delivery}), request {req.id}",
    )
    return data


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


IDENTITY_CHECKS = (
    "license",
    "mynumber_card",
    "passport",
    "health_insurance",
    "phone_callback",
    "in_person_known",
)
DELIVERIES = ("paper", "pdf")


async def disclose(
    session: AsyncSession,
    customer_id: int,
    *,
    actor: str,
    now: dt.datetime,
    identity: str,
    delivery: str,
    requester: str = "",
    note: str = "",
) -> DataRequest:
    """Art. 33: record one disclosure request and its answer — who prepared it, when, how the
    requester's identity was checked, how it is handed over. The document is then viewed
    (page, PDF) as often as needed without recording another request."""
    problems = []
    if identity not in IDENTITY_CHECKS:
        problems.append(Problem("identity", "本人確認の方法を選んでください"))
    if delivery not in DELIVERIES:
        problems.append(Problem("delivery", "交付方法を選んでください"))
    for name, text in (("requester", requester), ("note", note)):
        if len(text) > 200 or _has_control(text):
            problems.append(Problem(name, "200文字以内で、制御文字を含めずに入力してください"))
    if problems:
        raise Invalid(problems)
    c = await get(session, customer_id)
    req = DataRequest(
        customer_id=c.id,
        kind="disclosure",
        received_at=now,
        received_by=actor,
        detail={
            "delivery": delivery,
            "identity_check": identity,
            "requester": requester.strip() or "ご本人",
            "prepared_by": actor,
            "prepared_at": now.isoformat(),
            "note": note.strip(),
        },
        outcome="disclosed",
        notified_at=now,
    )
    session.add(req)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="customer.disclosure",
        entity="customer",
        entity_id=c.id,
        now=now,
        after={"request_id": req.id, "identity_check": identity, "delivery": delivery},
    )
    return req


async def request_of(
    session: AsyncSession, customer_id: int, request_id: int, kind: str
) -> DataRequest:
    req = await session.get(DataRequest, request_id)
    if req is None or req.customer_id != customer_id or req.kind != kind:
        raise NotFound(f"請求 {request_id} はありません")
    return req


async def disclosure_document(
    session: AsyncSession,
    customer_id: int,
    request_id: int,
    *,
    actor: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The content of a recorded disclosure, as held when it was prepared (rows written
    later are left out). Viewing it is a read of personal data (audited), not a request."""
    req = await request_of(session, customer_id, request_id, "disclosure")
    c = await get(session, customer_id)
    asof = req.received_at

    async def rows(model: Any, *where: Any, order: Any) -> list[Any]:
        return list((await session.scalars(select(model).where(*where).order_by(order))).all())

    outbox_ids = select(OutboxMessage.id).where(OutboxMessage.customer_id == c.id)
    store = await session.get(Store, c.store_id) if c.store_id is not None else None
    doc = {
        "request": req,
        "customer": c,
        "store": store,
        "vehicles": await rows(Vehicle, Vehicle.user_id == c.id, order=Vehicle.id),
        "policies": await rows(
            InsurancePolicy, InsurancePolicy.customer_id == c.id, order=InsurancePolicy.id
        ),
        "email_bases": await rows(
            EmailBasis,
            EmailBasis.customer_id == c.id,
            EmailBasis.evidence_at <= asof,
            order=EmailBasis.id,
        ),
        "consents": await rows(
            ConsentEvent,
            ConsentEvent.customer_id == c.id,
            ConsentEvent.occurred_at <= asof,
            order=ConsentEvent.seq,
        ),
        "messages": await rows(
            OutboxMessage,
            OutboxMessage.customer_id == c.id,
            OutboxMessage.created_at <= asof,
            order=OutboxMessage.id,
        ),
        "attempts": await rows(
            SendAttempt,
            SendAttempt.outbox_id.in_(outbox_ids),
            SendAttempt.at <= asof,
            order=SendAttempt.id,
        ),
        # Third-party provision and receipt records (APPI Art. 29/30). The section in the
        # document renders these rows; a richer provision record plugs in here.
        "provisions": await rows(
            ProvisionRecord,
            ProvisionRecord.customer_id == c.id,
            ProvisionRecord.at <= asof,
            order=ProvisionRecord.id,
        ),
        "requests": await rows(
            DataRequest,
            DataRequest.customer_id == c.id,
            DataRequest.received_at <= asof,
            DataRequest.id != req.id,
            order=DataRequest.id,
        ),
        "sensitive": await rows(
            SensitiveRecord,
            SensitiveRecord.customer_id == c.id,
            SensitiveRecord.created_at <= asof,
            order=SensitiveRecord.id,
        ),
    }
    await audit.read(
        session, actor=actor, customer_id=c.id, what=f"disclosure {req.id} document", now=now
    )
    return doc


async def correction_notice(
    session: AsyncSession, customer_id: int, request_id: int, *, actor: str, now: dt.datetime
) -> dict[str, Any]:
    """R8: the notice of the outcome of one correction request (Art. 34(3))."""
    req = await request_of(session, customer_id, request_id, "correction")
    c = await get(session, customer_id)
    await audit.read(
        session, actor=actor, customer_id=c.id, what=f"correction notice {req.id}", now=now
    )
    return {"request": req, "customer": c, "label": CORRECTABLE.get(req.detail.get("field", ""))}
