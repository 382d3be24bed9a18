"""The provision/receipt log: written, never changed. One row per person and event.

A record holds who the counterparty was, whose data, which items, on what basis (consent,
joint use, law) and, for a receipt, how the provider obtained the data (Art. 30). Rows are
inserted with Core in the caller's transaction; there is no update path, and the retention
job keeps them for at least the configured period (3 years, R5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from outreach.clock import JST
from outreach.db.bulk import chunks
from outreach.db.models import ProvisionRecord

PROVIDE, RECEIVE = "provide", "receive"
BASES = ("consent", "joint_use", "outsourcing", "law", "third_party")
_DIRECTION_JA = {PROVIDE: "提供", RECEIVE: "受領"}
_BASIS_JA = {
    "consent": "ご本人の同意",
    "joint_use": "共同利用",
    "outsourcing": "業務委託",
    "law": "法令に基づく場合",
    "third_party": "第三者提供（共同利用の範囲外：提供元の同意の確認が必要）",
}


@dataclass(frozen=True, slots=True)
class Entry:
    direction: str
    counterparty: str
    customer_id: int | None
    items: tuple[str, ...]
    basis: str
    at: dt.datetime
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        if self.direction not in (PROVIDE, RECEIVE):
            raise ValueError(f"direction {self.direction!r}")
        if self.basis not in BASES:
            raise ValueError(f"basis {self.basis!r}")
        if not self.counterparty.strip() or not self.items:
            raise ValueError("a provision record names its counterparty and items")
        return {
            "direction": self.direction,
            "counterparty": self.counterparty,
            "customer_id": self.customer_id,
            "items": list(self.items),
            "basis": self.basis,
            "detail": self.detail,
            "at": self.at,
        }


async def write(conn: AsyncSession | AsyncConnection, entries: Sequence[Entry]) -> int:
    """Insert the records in the caller's transaction (batched); their number."""
    rows = [e.row() for e in entries]
    for part in chunks(rows, 1000):
        await conn.execute(insert(ProvisionRecord), part)
    return len(rows)


def _jst(value: dt.datetime) -> str:
    t = value.astimezone(JST)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def describe(r: ProvisionRecord) -> dict[str, Any]:
    """One record as the person and the dealer read it (Art. 33(5) disclosure, exports)."""
    d = r.detail or {}
    return {
        "日時": _jst(r.at),
        "区分": _DIRECTION_JA.get(r.direction, r.direction),
        "相手方": r.counterparty,
        "項目": "、".join(d.get("item_labels") or r.items),
        "根拠": _BASIS_JA.get(r.basis, r.basis),
        # a receipt: how the provider obtained the data (Art. 30); a provision: its batch
        # and, under consent, when the person consented (the consent fact, R5)
        "備考": d.get("obtained_by") or _note(d),
    }


def _note(d: dict[str, Any]) -> str:
    parts = []
    consent = d.get("consent")
    if isinstance(consent, dict) and consent.get("at"):
        parts.append(f"{_jst(dt.datetime.fromisoformat(consent['at']))}にいただいた同意による提供")
    if d.get("batch"):
        parts.append(f"（記録番号 {d['batch']}）")
    return "".join(parts)


async def for_customer(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    """The provision and receipt records of one person, described, oldest first: what the
    Art. 33 disclosure shows (33(5), added 2022)."""
    rows = await session.scalars(
        select(ProvisionRecord)
        .where(ProvisionRecord.customer_id == customer_id)
        .order_by(ProvisionRecord.at, ProvisionRecord.id)
    )
    return [describe(r) for r in rows]
