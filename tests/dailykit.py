"""Helpers for the daily-run tests: customers, vehicles and policies inserted for real."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.candidates.calendar import add_months
from outreach.clock import JST
from outreach.db.models import (
    Customer,
    EmailBasis,
    GateDecision,
    InsurancePolicy,
    OutboxMessage,
    Vehicle,
)

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


async def customer(
    session: AsyncSession,
    n: int,
    *,
    email: bool = True,
    post: bool = True,
    phone: bool = True,
    basis: bool = True,
    **extra: Any,
) -> int:
    values = {
        "external_id": f"C{n:05d}",
        "name_kanji": f"髙橋 太郎{n}",
        "name_kana": "タカハシ タロウ",
        "postal_code": "1600023" if post else None,
        "prefecture": "東京都" if post else None,
        "city": "新宿区" if post else None,
        "address": f"西新宿1-{n}" if post else None,
        "phone": f"03-0000-{n:04d}" if phone else None,
        "email": f"c{n}@example.jp" if email else None,
        "notice_version": 2,
        "opt_outs": [],
        "consents": [],
        "created_at": T0,
        "updated_at": T0,
        **extra,
    }
    cid = int(
        (await session.execute(insert(Customer).values(values).returning(Customer.id))).scalar_one()
    )
    if email and basis:
        await session.execute(
            insert(EmailBasis).values(
                customer_id=cid,
                email=values["email"],
                basis="opt_in",
                evidence_at=T0,
                evidence_method="web_form",
                evidence_text="メールでのご案内を希望する",
            )
        )
    return cid


async def vehicle(session: AsyncSession, n: int, user_id: int | None, **extra: Any) -> int:
    values = {
        "external_id": f"V{n:05d}",
        "user_id": user_id,
        "car_name": "レクサス RX",
        "registration_number": f"品川 300 あ {n:04d}",
        "status": "owned",
        "updated_at": T0,
        **extra,
    }
    stmt = insert(Vehicle).values(values).returning(Vehicle.id)
    return int((await session.execute(stmt)).scalar_one())


async def policy(
    session: AsyncSession,
    n: int,
    *,
    kind: str,
    customer_id: int | None,
    expires_on: dt.date,
    vehicle_id: int | None = None,
    insurer: str = "tokio_marine",
) -> int:
    noon = dt.time(12, 0) if kind == "jibaiseki" else dt.time(16, 0)
    values = {
        "external_id": f"P{n:05d}",
        "vehicle_id": vehicle_id,
        "customer_id": customer_id,
        "insurer": insurer,
        "kind": kind,
        "starts_at": dt.datetime.combine(
            add_months(expires_on, -25 if kind == "jibaiseki" else -12), noon, tzinfo=JST
        ),
        "expires_at": dt.datetime.combine(expires_on, noon, tzinfo=JST),
        "expires_on": expires_on,
        "updated_at": T0,
    }
    stmt = insert(InsurancePolicy).values(values).returning(InsurancePolicy.id)
    return int((await session.execute(stmt)).scalar_one())


async def set_vehicle(session: AsyncSession, vid: int, **values: Any) -> None:
    await session.execute(update(Vehicle).where(Vehicle.id == vid).values(**values))


async def outbox_rows(session: AsyncSession) -> list[dict[str, Any]]:
    o = OutboxMessage.__table__
    stmt = select(o).order_by(o.c.id)
    return [dict(r) for r in (await session.execute(stmt)).mappings()]


async def outbox_count(session: AsyncSession) -> int:
    return int(
        (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    )


async def denied(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(GateDecision.customer_id, GateDecision.reasons).where(
            GateDecision.allowed.is_(False)
        )
    )
    return [(int(c), str(r)) for c, r in rows]


async def seed_many(session: AsyncSession, n: int, *, shaken_expiry_on: dt.date) -> None:
    """n email customers with opt-in evidence, each using one vehicle, in batched inserts."""
    await session.execute(
        insert(Customer),
        [
            {
                "external_id": f"M{i:06d}",
                "name_kanji": f"顧客 {i}",
                "email": f"m{i}@example.jp",
                "notice_version": 2,
                "opt_outs": [],
                "consents": [],
                "created_at": T0,
                "updated_at": T0,
            }
            for i in range(n)
        ],
    )
    ids = {e: i for e, i in await session.execute(select(Customer.external_id, Customer.id))}
    await session.execute(
        insert(EmailBasis),
        [
            {
                "customer_id": ids[f"M{i:06d}"],
                "email": f"m{i}@example.jp",
                "basis": "opt_in",
                "evidence_at": T0,
                "evidence_method": "web_form",
                "evidence_text": "メールでのご案内を希望する",
            }
            for i in range(n)
        ],
    )
    await session.execute(
        insert(Vehicle),
        [
            {
                "external_id": f"MV{i:06d}",
                "user_id": ids[f"M{i:06d}"],
                "car_name": "レクサス NX",
                "status": "owned",
                "shaken_expiry_on": shaken_expiry_on,
                "updated_at": T0,
            }
            for i in range(n)
        ],
    )
