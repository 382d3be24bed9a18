"""Art. 34 correction (R8): correct one field or record a refusal, the task to notify the
customer of the outcome, the notice itself and its delivery."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    Customer,
    DataRequest,
    Flag,
)
from outreach.errors import NotFound
from outreach.staff import audit, validation
from outreach.staff.customer_record import (
    CORRECTABLE,
    IDENTITY_CHECKS,
    _plain,
    get,
    request_of,
)
from outreach.staff.errors import Invalid, Problem


@dataclass(frozen=True, slots=True)
class Correction:
    """One Art. 34 correction (or refusal) recorded: its request row, and the field's value
    before and after as the audit row holds them (`{field: value}`, the value as JSON)."""

    request_id: int
    before: dict[str, Any]
    after: dict[str, Any]
    outcome: str


@dataclass(frozen=True, slots=True)
class CorrectionNotice:
    """What the notice of a correction's outcome shows: the request, the customer, and the
    Japanese label of the field asked to be corrected."""

    request: DataRequest
    customer: Customer
    label: str | None


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
) -> Correction:
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
    return Correction(request_id=req.id, before=before, after=after, outcome=outcome)


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


async def correction_notice(
    session: AsyncSession, customer_id: int, request_id: int, *, actor: str, now: dt.datetime
) -> CorrectionNotice:
    """R8: the notice of the outcome of one correction request (Art. 34(3))."""
    req = await request_of(session, customer_id, request_id, "correction")
    c = await get(session, customer_id)
    await audit.read(
        session, actor=actor, customer_id=c.id, what=f"correction notice {req.id}", now=now
    )
    return CorrectionNotice(
        request=req, customer=c, label=CORRECTABLE.get(req.detail.get("field", ""))
    )
