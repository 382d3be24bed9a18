"""A registry change that adds a purpose or a joint user, and the customers to tell (R2, R4).

The customers to notify are those shown an older policy version than the registry's current
one. Until they are notified the gate applies R2 (a later purpose needs notice or consent;
see gate.rules) and the joint-use export leaves them out of a group named later. Recording
the notification raises their `notice_version`, with one audit row per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.bulk import chunks
from outreach.db.models import AuditEntry, Customer
from outreach.gate import purposes


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    purposes: tuple[str, ...]  # "(7) …" added in this version
    joint_users: tuple[str, ...]  # group labels first named in this version

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "purposes": list(self.purposes),
            "joint_users": list(self.joint_users),
        }


def changes(reg: purposes.Registry, version: int | None = None) -> Change:
    """What the given version (default: the current one) added."""
    v = reg.version if version is None else version
    return Change(
        version=v,
        purposes=tuple(
            f"{p.number} {p.text}" for p in reg.purposes.values() if p.since_version == v
        ),
        joint_users=tuple(
            f"{g.label}（{'、'.join(g.members)}）"
            for g in reg.joint_use.groups
            if g.since_version == v and v > reg.joint_use.since_version
        ),
    )


@dataclass(frozen=True, slots=True)
class ToNotify:
    """An active customer shown an older version, and how a notice can reach them."""

    customer_id: int
    external_id: str
    name: str
    notice_version: int
    via: str | None  # post | email | None (no address held)


async def to_notify(session: AsyncSession, reg: purposes.Registry) -> list[ToNotify]:
    """Active customers shown an older version, with the channel a notice can go by."""
    c = Customer
    rows = await session.execute(
        select(
            c.id, c.external_id, c.name_kanji, c.notice_version, c.postal_code, c.address, c.email
        )
        .where(c.status == "active", c.notice_version < reg.version)
        .order_by(c.id)
    )
    out = []
    for cid, ext, name, version, postal, address, email in rows:
        via = "post" if postal and address else ("email" if email else None)
        out.append(ToNotify(cid, ext, name, version, via))
    return out


async def mark_notified(
    session: AsyncSession,
    reg: purposes.Registry,
    customer_ids: Sequence[int],
    *,
    via: str,
    actor: str,
    now: dt.datetime,
) -> int:
    """Record that these customers were notified of the current version; how many changed."""
    changed = 0
    ids = sorted(set(customer_ids))
    for part in chunks(ids, 5000):
        r = await session.execute(
            update(Customer)
            .where(Customer.id.in_(part), Customer.notice_version < reg.version)
            .values(notice_version=reg.version, updated_at=now)
        )
        changed += r.rowcount or 0  # type: ignore[attr-defined]
    session.add(
        AuditEntry(
            actor=actor,
            action="policy.notified",
            entity="policy",
            entity_id=str(reg.version),
            after={"version": reg.version, "via": via, "customers": changed},
            at=now,
        )
    )
    await session.commit()
    return changed
