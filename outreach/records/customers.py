"""One customer's whole record for staff (`outreach customer show`): the customer, vehicles,
policies, email bases, current preferences and the latest consent events.

Sensitive records (要配慮個人情報) are counted, never shown. Each read is written to the audit
log (R11: reads of personal data are logged).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.db import models
from outreach.errors import NotFound

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

LAST_EVENTS = 10
T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    external_id: str
    name_kanji: str
    name_kana: str | None
    postal_code: str | None
    prefecture: str | None
    city: str | None
    address: str | None
    phone: str | None
    email: str | None
    birth_date: dt.date | None
    status: str
    acquisition: str
    joint_use_partner: str | None
    acquired_on: dt.date | None
    notice_version: int
    customer_since: dt.date | None
    last_visit_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    store: str | None  # the store's name
    email_suppressed: str | None  # the suppression reason of the email, if any


@dataclass(frozen=True, slots=True)
class Preferences:
    opt_outs: tuple[str, ...]
    use_suspended: bool
    consents: tuple[str, ...]
    ledger_seq: int


@dataclass(frozen=True, slots=True)
class BasisRecord:
    email: str
    basis: str
    evidence_at: dt.datetime
    evidence_method: str
    evidence_text: str
    evidence_ref: str | None
    withdrawn_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    id: int
    external_id: str
    car_name: str
    model_code: str | None
    color: str | None
    registration_number: str | None
    first_registered_on: dt.date | None
    shaken_expiry_on: dt.date | None
    last_inspection_on: dt.date | None
    booked_on: dt.date | None
    status: str
    owner_kind: str
    owner_name: str | None


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    external_id: str
    insurer: str
    kind: str
    vehicle_id: int | None
    starts_at: dt.datetime | None
    expires_at: dt.datetime
    expires_on: dt.date
    held_as_processor: bool


@dataclass(frozen=True, slots=True)
class EventRecord:
    seq: int
    action: str
    scope: str
    legal_basis: str | None
    source: str
    actor: str
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Shown:
    """Everything held on one customer; sensitive records only counted."""

    customer: CustomerRecord
    preferences: Preferences
    email_bases: tuple[BasisRecord, ...]
    vehicles: tuple[VehicleRecord, ...]
    policies: tuple[PolicyRecord, ...]
    consent_events: tuple[EventRecord, ...]  # the latest LAST_EVENTS, newest first
    sensitive_records: int

    def to_json(self) -> dict[str, Any]:
        """The record as `customer show --json` prints it (values as held; dates, times and
        tuples left to the JSON encoder)."""
        return asdict(self)


async def find(session: AsyncSession, ident: str) -> models.Customer:
    """By external (DMS) id first, then by internal id when `ident` is a number."""
    cond: Any = models.Customer.external_id == ident
    if ident.isdigit():
        cond = or_(cond, models.Customer.id == int(ident))
    found = (await session.execute(select(models.Customer).where(cond))).scalars().all()
    if not found:
        raise NotFound(f"customer {ident!r} not found (neither external nor internal id)")
    # An external id that looks like another customer's internal id: the external id wins.
    return next((c for c in found if c.external_id == ident), found[0])


def _of(cls: type[T], obj: Any, **given: Any) -> T:
    """`cls` from the like-named attributes of `obj` (a row), and the values `given`."""
    return cls(
        **{f.name: getattr(obj, f.name) for f in fields(cls) if f.name not in given}, **given
    )


async def show(session: AsyncSession, ident: str, *, actor: str, now: dt.datetime) -> Shown:
    c = await find(session, ident)
    vehicles = (
        await session.scalars(
            select(models.Vehicle).where(models.Vehicle.user_id == c.id).order_by(models.Vehicle.id)
        )
    ).all()
    policies = (
        await session.scalars(
            select(models.InsurancePolicy)
            .where(models.InsurancePolicy.customer_id == c.id)
            .order_by(models.InsurancePolicy.expires_on)
        )
    ).all()
    bases = (
        await session.scalars(
            select(models.EmailBasis)
            .where(models.EmailBasis.customer_id == c.id)
            .order_by(models.EmailBasis.id)
        )
    ).all()
    events = (
        await session.scalars(
            select(models.ConsentEvent)
            .where(models.ConsentEvent.customer_id == c.id)
            .order_by(models.ConsentEvent.seq.desc())
            .limit(LAST_EVENTS)
        )
    ).all()
    sensitive = await session.scalar(
        select(func.count())
        .select_from(models.SensitiveRecord)
        .where(models.SensitiveRecord.customer_id == c.id)
    )
    suppressed = None
    if c.email:
        suppressed = await session.scalar(
            select(models.Suppression.reason).where(
                models.Suppression.email == addresses.normalise(c.email)
            )
        )
    store = await session.get(models.Store, c.store_id) if c.store_id else None
    session.add(
        models.AuditEntry(
            actor=actor,
            action="read",
            entity="customer",
            entity_id=str(c.id),
            reason="customer show",
            at=now,
        )
    )
    await session.commit()
    return Shown(
        customer=_of(
            CustomerRecord,
            c,
            store=store.name if store else None,
            email_suppressed=suppressed,
        ),
        preferences=Preferences(
            opt_outs=tuple(sorted(c.opt_outs or [])),
            use_suspended=c.use_suspended,
            consents=tuple(sorted(c.consents or [])),
            ledger_seq=c.ledger_seq,
        ),
        email_bases=tuple(_of(BasisRecord, b) for b in bases),
        vehicles=tuple(_of(VehicleRecord, v) for v in vehicles),
        policies=tuple(_of(PolicyRecord, p) for p in policies),
        consent_events=tuple(_of(EventRecord, e) for e in events),
        sensitive_records=sensitive or 0,
    )
