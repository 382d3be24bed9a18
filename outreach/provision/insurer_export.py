"""`outreach export insurer --to INSURER`: data given to one insurer under each person's
consent to share with THAT insurer (R5: consent per recipient; R6: insurer partitions), and
the provision record of every person in it (Art. 29).

Who: an active customer whose use is not stopped and whose consent ledger holds a grant of
"insurer_share:<insurer>" that is still in force (`customers.consents`). A consent for
another insurer, or for the dealer ("insurer_share:dealer"), lifts nothing here.

What: only the items of a purpose the policy names that insurer for ((8) 保険代理店業務:
name, address, birth date, phone, email, vehicle, 車検証, registration number, insurance
contracts), never sensitive data, and of the insurance contracts only those the consent can
release: the insurer's own, and another insurer's that the dealer holds as its agent — never
data held as another insurer's 委託先 (processor), which is that insurer's, not the
customer's to pass on (R6).

The record: counterparty (the insurer's name), the person, the items, the date, the basis
(consent) and the consent fact (the ledger event that granted it), written in the same
transaction as the audit row; the file appears only once they are committed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.bulk import chunks
from outreach.db.models import ConsentEvent, Customer, InsurancePolicy, Vehicle
from outreach.errors import ConfigError, InputRejected, NotFound
from outreach.gate import purposes
from outreach.provision import exportfile, records

_MODELS = {"customer": Customer, "vehicle": Vehicle, "policy": InsurancePolicy}
CONSENT_SCOPE = "insurer_share"


Result = exportfile.Result


def shareable_items(reg: purposes.Registry, insurer: str) -> list[purposes.Item]:
    """The items of every purpose that names `insurer`, in registry order; nothing sensitive."""
    if insurer not in reg.insurers:
        raise NotFound(
            f"unknown insurer {insurer!r} (one of {', '.join(reg.insurers)}; purposes.toml)"
        )
    ids: set[str] = set()
    for p in reg.purposes.values():
        if insurer in p.insurers:
            ids |= p.items
    out = [
        it
        for it in reg.items.values()
        if it.id in ids and not it.sensitive and it.id not in reg.sensitive_items
    ]
    if not out:
        raise ConfigError(f"no purpose in purposes.toml names the insurer {insurer!r}")
    return out


def export_fields(reg: purposes.Registry, insurer: str) -> list[tuple[str, purposes.Item]]:
    return [
        (f, it)
        for it in shareable_items(reg, insurer)
        for f in it.fields
        if not f.endswith(".*") and f.split(".")[0] in _MODELS
    ]


async def consented(session: AsyncSession, insurer: str) -> dict[int, ConsentEvent]:
    """Customer id → the ledger event that granted sharing with `insurer`, for every active
    customer whose consent is in force (the latest grant; a later withdrawal takes it off
    `customers.consents`, which the ledger writes in the same transaction)."""
    scope = f"{CONSENT_SCOPE}:{insurer}"
    ce = ConsentEvent
    latest = (
        select(ce.customer_id, func.max(ce.seq).label("seq"))
        .where(ce.scope == scope, ce.action == "grant")
        .group_by(ce.customer_id)
        .subquery()
    )
    q = (
        select(ce, Customer.consents)
        .join(latest, and_(latest.c.customer_id == ce.customer_id, latest.c.seq == ce.seq))
        .join(Customer, Customer.id == ce.customer_id)
        .where(Customer.status == "active", Customer.use_suspended.is_(False))
    )
    rows = (await session.execute(q)).all()
    return {e.customer_id: e for e, held in rows if scope in (held or [])}


async def run(
    session: AsyncSession,
    reg: purposes.Registry,
    insurer: str,
    out: Path,
    *,
    now: dt.datetime,
    actor: str,
) -> Result:
    chosen = export_fields(reg, insurer)
    name = reg.insurers[insurer]
    grants = await consented(session, insurer)
    if not grants:
        raise InputRejected(
            f"{name}への提供に同意したお客様はいません（{CONSENT_SCOPE}:{insurer}）"
        )
    ids = sorted(grants)
    policy_join = and_(
        InsurancePolicy.customer_id == Customer.id,
        or_(InsurancePolicy.vehicle_id == Vehicle.id, InsurancePolicy.vehicle_id.is_(None)),
        # the insurer's own contracts, and others' held as agent; never another's 委託先 data
        or_(InsurancePolicy.insurer == insurer, InsurancePolicy.held_as_processor.is_(False)),
    )
    cols = [
        getattr(_MODELS[f.split(".")[0]], f.split(".")[1]).label(f.replace(".", "__"))
        for f, _ in chosen
    ]
    rows: list[Any] = []
    for part in chunks(ids, 1000):
        q = (
            select(Customer.id, *cols)
            .select_from(Customer)
            .outerjoin(Vehicle, and_(Vehicle.user_id == Customer.id, Vehicle.status == "owned"))
            .outerjoin(InsurancePolicy, policy_join)
            .where(Customer.id.in_(part))
            .order_by(Customer.id, Vehicle.id, InsurancePolicy.id)
        )
        rows += (await session.execute(q)).all()
    staged = exportfile.stage(
        out,
        [f"{it.label}:{f}" for f, it in chosen],
        (["" if v is None else _cell(v) for v in r[1:]] for r in rows),
        prefix="IN",
        now=now,
    )
    batch = staged.batch
    item_ids = tuple(dict.fromkeys(it.id for _, it in chosen))
    labels = [reg.items[i].label for i in item_ids]
    entries = [
        records.Entry(
            direction=records.PROVIDE,
            counterparty=name,
            customer_id=cid,
            items=item_ids,
            basis="consent",
            at=now,
            detail={
                "insurer": insurer,
                "batch": batch,
                "item_labels": labels,
                "consent": {
                    "scope": grants[cid].scope,
                    "seq": grants[cid].seq,
                    "source": grants[cid].source,
                    "at": grants[cid].occurred_at.isoformat(),
                },
                "file": out.name,
            },
        )
        for cid in ids
    ]
    return await exportfile.finish(
        session,
        staged,
        entries,
        action="export.insurer",
        recipient=("insurer", insurer),
        name=name,
        rows=len(rows),
        fields=tuple(f for f, _ in chosen),
        actor=actor,
        now=now,
    )


def _cell(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.astimezone(JST).isoformat()
    return str(v)
