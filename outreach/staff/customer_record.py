"""The customer record as staff services read it: one customer (or NotFound), a row as a
dict, a request row of a kind, and the value lists the request forms share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    Customer,
    DataRequest,
    GateDecision,
)
from outreach.errors import NotFound
from outreach.staff import validation

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

IDENTITY_CHECKS = (
    "license",
    "mynumber_card",
    "passport",
    "health_insurance",
    "phone_callback",
    "in_person_known",
)
DELIVERIES = ("paper", "pdf")

# A row of the customer page or the disclosure export: a record's columns by name, as held
# (free-form: each table has its own columns).
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Preferences:
    """The customer's contact preferences (the ledger's materialised view)."""

    opt_outs: tuple[str, ...]
    use_suspended: bool
    consents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """Everything the customer page shows (`customers.page`); no sensitive records."""

    customer: Row
    preferences: Preferences
    store: Row | None
    vehicles: tuple[Row, ...]
    policies: tuple[Row, ...]
    email_bases: tuple[Row, ...]
    consent_events: tuple[Row, ...]
    messages: tuple[Row, ...]
    decisions: tuple[Row, ...]
    requests: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class RequestTaken:
    """An opt-out or cessation request staff took (`customers.take_request`): whether the
    ledger changed, and the Art. 35 request row of a cessation."""

    changed: bool
    request_id: int | None


def _row(obj: Any, *, hide: set[str] | None = None) -> Row:
    table: Table = obj.__table__
    return {c.key: getattr(obj, c.key) for c in table.c if c.key not in (hide or set())}


async def get(session: AsyncSession, customer_id: int) -> Customer:
    c = await session.get(Customer, customer_id)
    if c is None:
        raise NotFound(f"顧客 {customer_id} はいません")
    return c


def _decision(d: GateDecision) -> Row:
    row = _row(d)
    row["reasons"] = d.reasons.split() if d.reasons else []
    return row


def _has_control(text: str) -> bool:
    return bool(validation.controls("-", text))


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


async def request_of(
    session: AsyncSession, customer_id: int, request_id: int, kind: str
) -> DataRequest:
    req = await session.get(DataRequest, request_id)
    if req is None or req.customer_id != customer_id or req.kind != kind:
        raise NotFound(f"請求 {request_id} はありません")
    return req
