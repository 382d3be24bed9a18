"""One customer's whole record for staff (`outreach customer show`): the customer, vehicles,
policies, email bases, current preferences and the latest consent events — read by the same
`staff.customer_record.records_of` as the console's customer page, so the two cannot drift.

Sensitive records (要配慮個人情報) are counted, never shown. Each read is written to the audit
log (R11: reads of personal data are logged).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses
from outreach.db import models
from outreach.errors import NotFound
from outreach.staff.customer_record import records_of

LAST_EVENTS = 10


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


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {n: getattr(obj, n) for n in names}


async def show(
    session: AsyncSession, ident: str, *, actor: str, now: dt.datetime
) -> dict[str, Any]:
    c = await find(session, ident)
    r = await records_of(session, c)
    bases = r.email_bases
    vehicles = r.vehicles
    policies = sorted(r.policies, key=lambda p: p.expires_on)  # soonest expiry first
    events = list(reversed(r.consent_events))[:LAST_EVENTS]  # the latest, newest first
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
    store = r.store
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
    return {
        "customer": _row(
            c,
            "id",
            "external_id",
            "name_kanji",
            "name_kana",
            "postal_code",
            "prefecture",
            "city",
            "address",
            "phone",
            "email",
            "birth_date",
            "status",
            "acquisition",
            "joint_use_partner",
            "acquired_on",
            "notice_version",
            "customer_since",
            "last_visit_on",
            "created_at",
            "updated_at",
        )
        | {"store": store.name if store else None, "email_suppressed": suppressed},
        "preferences": {
            "opt_outs": sorted(c.opt_outs or []),
            "use_suspended": c.use_suspended,
            "consents": sorted(c.consents or []),
            "ledger_seq": c.ledger_seq,
        },
        "email_bases": [
            _row(
                b,
                "email",
                "basis",
                "evidence_at",
                "evidence_method",
                "evidence_text",
                "evidence_ref",
                "withdrawn_at",
            )
            for b in bases
        ],
        "vehicles": [
            _row(
                v,
                "id",
                "external_id",
                "car_name",
                "model_code",
                "color",
                "registration_number",
                "first_registered_on",
                "shaken_expiry_on",
                "last_inspection_on",
                "booked_on",
                "status",
                "owner_kind",
                "owner_name",
            )
            for v in vehicles
        ],
        "policies": [
            _row(
                p,
                "id",
                "external_id",
                "insurer",
                "kind",
                "vehicle_id",
                "starts_at",
                "expires_at",
                "expires_on",
                "held_as_processor",
            )
            for p in policies
        ],
        "consent_events": [
            _row(e, "seq", "action", "scope", "legal_basis", "source", "actor", "occurred_at")
            for e in events
        ],
        "sensitive_records": sensitive or 0,
    }
