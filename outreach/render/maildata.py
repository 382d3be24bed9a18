"""Loading what a batch of messages' templates may read, in one query per table.

Templates reach data only through `customer`, `vehicle`, `policy`, `store` and `campaign`
(plus `dealer` and `message`, which hold no personal data and are added by the composer);
attributes are named like the model columns. Preference and ledger columns are internal and
never handed to a template; sensitive records are never loaded here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import outbox
from outreach.db.bulk import among
from outreach.db.models import Campaign, Customer, EmailBasis, InsurancePolicy, Store, Vehicle

_HIDDEN = {
    "customers": {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"},
    "campaigns": {"audience"},  # its templates are read by the composer, not shown to them
}

Row = Mapping[str, Any]


@dataclass(frozen=True)
class MessageData:
    customer: Row
    vehicle: Row | None = None
    policy: Row | None = None
    store: Row | None = None
    campaign: Row | None = None
    basis: str | None = None  # R15 basis of the address, if one is recorded
    basis_id: int | None = None  # its email_bases row: the consent evidence (R17, R28)
    extra: Mapping[str, Any] = field(default_factory=dict)


async def _rows(session: AsyncSession, table: Table, ids: Iterable[int | None]) -> dict[int, Row]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    hidden = _HIDDEN.get(table.name, set())
    cols = [c for c in table.c if c.key not in hidden]
    keys = [c.key for c in cols]
    result = await session.execute(select(*cols).where(among(session, table.c.id, wanted)))
    rows = (dict(zip(keys, r, strict=True)) for r in result.all())
    return {r["id"]: r for r in rows}


def _table(model: Any) -> Table:
    t: Table = model.__table__
    return t


async def load(session: AsyncSession, messages: Sequence[outbox.Claimed]) -> dict[int, MessageData]:
    """Template data per outbox id. A message whose customer is gone is left out."""
    customers = await _rows(session, _table(Customer), (m.customer_id for m in messages))
    vehicles = await _rows(session, _table(Vehicle), (m.vehicle_id for m in messages))
    policies = await _rows(session, _table(InsurancePolicy), (m.policy_id for m in messages))
    campaigns = await _rows(session, _table(Campaign), (m.campaign_id for m in messages))
    stores = await _rows(session, _table(Store), (c.get("store_id") for c in customers.values()))
    bases = await email_bases(session, customers.values())
    out: dict[int, MessageData] = {}
    for m in messages:
        c = customers.get(m.customer_id)
        if c is None:
            continue
        basis = bases.get((m.customer_id, recipient(m, c).lower()))
        out[m.id] = MessageData(
            customer=c,
            vehicle=vehicles.get(m.vehicle_id) if m.vehicle_id is not None else None,
            policy=policies.get(m.policy_id) if m.policy_id is not None else None,
            store=stores.get(c["store_id"]) if c.get("store_id") is not None else None,
            campaign=campaigns.get(m.campaign_id) if m.campaign_id is not None else None,
            basis=basis[0] if basis else None,
            basis_id=basis[1] if basis else None,
        )
    return out


async def email_bases(
    session: AsyncSession, customers: Iterable[Row]
) -> dict[tuple[int, str], tuple[str, int]]:
    """The standing (not withdrawn) R15 basis per (customer, address)."""
    ids = sorted({c["id"] for c in customers})
    if not ids:
        return {}
    rows = await session.execute(
        select(EmailBasis.customer_id, EmailBasis.email, EmailBasis.basis, EmailBasis.id).where(
            among(session, EmailBasis.customer_id, ids), EmailBasis.withdrawn_at.is_(None)
        )
    )
    return {(cid, email.lower()): (basis, bid) for cid, email, basis, bid in rows.all()}


def recipient(m: outbox.Claimed, customer: Row) -> str:
    """Where the message goes: the customer's current address — the one the gate's re-check
    judged (basis, suppression) — else the address it was queued for."""
    return str(customer.get("email") or m.to_address or "").strip()
