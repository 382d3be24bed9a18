"""Art. 33 disclosure (R7): the JSON export of everything held, a recorded disclosure
request, and its document as held when it was prepared."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    ConsentEvent,
    Customer,
    DataRequest,
    EmailBasis,
    GateDecision,
    InsurancePolicy,
    OutboxMessage,
    ProvisionRecord,
    SendAttempt,
    SensitiveRecord,
    Store,
    Vehicle,
)
from outreach.provision import records as provision_records
from outreach.staff import audit
from outreach.staff.customer_record import (
    IDENTITY_CHECKS,
    Row,
    _decision,
    _has_control,
    _row,
    get,
    request_of,
)
from outreach.staff.errors import Invalid, Problem

DELIVERIES = ("paper", "pdf")


@dataclass(frozen=True, slots=True)
class Export:
    """The Art. 33 JSON export (`export`): each table's rows of the person as held (columns
    by name), and the provision records as the person reads them."""

    generated_at: str  # ISO 8601
    customer: Row
    vehicles: tuple[Row, ...]
    insurance_policies: tuple[Row, ...]
    email_bases: tuple[Row, ...]
    consent_history: tuple[Row, ...]
    send_log: tuple[Row, ...]
    send_attempts: tuple[Row, ...]
    gate_decisions: tuple[Row, ...]
    provision_records: tuple[Row, ...]
    provision_log: tuple[Any, ...]  # outreach.provision.records.for_customer
    requests: tuple[Row, ...]
    sensitive_records: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        """The document as a mapping, its sections in order (the API makes it JSON)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True, slots=True)
class DisclosureDocument:
    """A recorded disclosure as held when it was prepared (`disclosure_document`)."""

    request: DataRequest
    customer: Customer
    store: Store | None
    vehicles: tuple[Vehicle, ...]
    policies: tuple[InsurancePolicy, ...]
    email_bases: tuple[EmailBasis, ...]
    consents: tuple[ConsentEvent, ...]
    messages: tuple[OutboxMessage, ...]
    attempts: tuple[SendAttempt, ...]
    provisions: tuple[ProvisionRecord, ...]
    requests: tuple[DataRequest, ...]
    sensitive: tuple[SensitiveRecord, ...]


# What is held about a customer, section by section: (model, its column naming the owner —
# the customer, or for attempts their outbox entry —, its time column that bounds a document
# to when it was prepared (None: not bounded), its order column).
SECTIONS: dict[str, tuple[Any, str, str | None, str]] = {
    "vehicles": (Vehicle, "user_id", None, "id"),
    "policies": (InsurancePolicy, "customer_id", None, "id"),
    "email_bases": (EmailBasis, "customer_id", "evidence_at", "id"),
    "consents": (ConsentEvent, "customer_id", "occurred_at", "seq"),
    "messages": (OutboxMessage, "customer_id", "created_at", "id"),
    "attempts": (SendAttempt, "outbox_id", "at", "id"),
    # Third-party provision and receipt records (APPI Art. 29/30). The section in the
    # document renders these rows; a richer provision record plugs in here.
    "provisions": (ProvisionRecord, "customer_id", "at", "id"),
    "requests": (DataRequest, "customer_id", "received_at", "id"),
    "sensitive": (SensitiveRecord, "customer_id", "created_at", "id"),
}


async def _held(
    session: AsyncSession,
    customer_id: int,
    *,
    asof: dt.datetime | None = None,
    besides: int | None = None,
) -> dict[str, tuple[Any, ...]]:
    """The rows of every section (SECTIONS), written by `asof` when given; `besides`: a
    data request left out of "requests" (the disclosure itself)."""
    outbox_ids = select(OutboxMessage.id).where(OutboxMessage.customer_id == customer_id)
    out: dict[str, tuple[Any, ...]] = {}
    for name, (model, owner, at, order) in SECTIONS.items():
        col = getattr(model, owner)
        where = [col.in_(outbox_ids) if model is SendAttempt else col == customer_id]
        if asof is not None and at is not None:
            where.append(getattr(model, at) <= asof)
        if name == "requests" and besides is not None:
            where.append(DataRequest.id != besides)
        q = select(model).where(*where).order_by(getattr(model, order))
        out[name] = tuple((await session.scalars(q)).all())
    return out


async def _recorded(
    session: AsyncSession, customer_id: int, detail: dict[str, Any], *, actor: str, now: dt.datetime
) -> DataRequest:
    """A disclosure request taken and answered now, flushed (it has its id)."""
    req = DataRequest(
        customer_id=customer_id,
        kind="disclosure",
        received_at=now,
        received_by=actor,
        detail=detail,
        outcome="disclosed",
        notified_at=now,
    )
    session.add(req)
    await session.flush()
    return req


async def export(
    session: AsyncSession,
    customer_id: int,
    *,
    actor: str,
    now: dt.datetime,
    delivery: str = "electronic",
) -> Export:
    """Art. 33 disclosure: everything held about the person — the record, vehicles, policies,
    email bases with their evidence, the consent history, the send log with every attempt,
    the gate's decisions with reasons, third-party provision records, past requests, and the
    sensitive records held with their consent (disclosed to the person; never used
    elsewhere). The request and the read are logged."""
    c = await get(session, customer_id)
    req = await _recorded(session, c.id, {"delivery": delivery}, actor=actor, now=now)
    held = {
        name: tuple(_row(x) for x in rows) for name, rows in (await _held(session, c.id)).items()
    }
    data = Export(
        generated_at=now.isoformat(),
        customer=_row(c, hide={"ledger_seq", "ledger_head"}),
        vehicles=held["vehicles"],
        insurance_policies=held["policies"],
        email_bases=held["email_bases"],
        consent_history=held["consents"],
        send_log=held["messages"],
        send_attempts=held["attempts"],
        gate_decisions=tuple(
            _decision(d)
            for d in (
                await session.scalars(
                    select(GateDecision)
                    .where(GateDecision.customer_id == c.id)
                    .order_by(GateDecision.id)
                )
            ).all()
        ),
        provision_records=held["provisions"],
        # the same records as the person reads them (Art. 33(5)): date, provided/received,
        # counterparty, items, basis, how obtained — see outreach.provision.records
        provision_log=tuple(await provision_records.for_customer(session, c.id)),
        requests=held["requests"],
        sensitive_records=held["sensitive"],
    )
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
    detail = {
        "delivery": delivery,
        "identity_check": identity,
        "requester": requester.strip() or "ご本人",
        "prepared_by": actor,
        "prepared_at": now.isoformat(),
        "note": note.strip(),
    }
    req = await _recorded(session, c.id, detail, actor=actor, now=now)
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


async def disclosure_document(
    session: AsyncSession,
    customer_id: int,
    request_id: int,
    *,
    actor: str,
    now: dt.datetime,
) -> DisclosureDocument:
    """The content of a recorded disclosure, as held when it was prepared (rows written
    later are left out). Viewing it is a read of personal data (audited), not a request."""
    req = await request_of(session, customer_id, request_id, "disclosure")
    c = await get(session, customer_id)
    store = await session.get(Store, c.store_id) if c.store_id is not None else None
    held = await _held(session, c.id, asof=req.received_at, besides=req.id)
    doc = DisclosureDocument(request=req, customer=c, store=store, **held)
    await audit.read(
        session, actor=actor, customer_id=c.id, what=f"disclosure {req.id} document", now=now
    )
    return doc
