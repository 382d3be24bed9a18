"""Recording incidents, their notices and reports. Every change is one transaction with its
audit row (entity "incident"): that is the incident's history."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.bulk import chunks
from outreach.db.models import AuditEntry, Customer, Incident, IncidentSubject, OutboxMessage
from outreach.errors import InputRejected, NotFound
from outreach.incidents import classes as classes_mod


def _history(
    session: AsyncSession, incident_id: int, action: str, actor: str, now: dt.datetime, **after: Any
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=f"incident.{action}",
            entity="incident",
            entity_id=str(incident_id),
            after=after or None,
            at=now,
        )
    )


async def record(
    session: AsyncSession,
    rules: classes_mod.Rules,
    *,
    title: str,
    discovered_at: dt.datetime,
    customer_ids: Sequence[int],
    items: Sequence[str],
    classes: Sequence[str] = (),
    description: str = "",
    occurred_at: dt.datetime | None = None,
    source: str | None = None,
    actor: str,
    now: dt.datetime,
) -> Incident:
    """A new incident with the people it affects; classes and deadlines assessed at once."""
    if not title.strip():
        raise InputRejected("件名（何が起きたか）を入力してください")
    if discovered_at > now:
        raise InputRejected("発見日時が未来になっています")
    people = sorted(set(customer_ids))
    if people:
        known = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.id.in_(people))
        )
        if known != len(people):
            raise InputRejected("登録されていないお客様が含まれています")
    try:
        a = classes_mod.assess(rules, discovered_at, classes, len(people))
    except ValueError as e:
        raise InputRejected(str(e)) from None
    inc = Incident(
        title=title.strip(),
        description=description,
        discovered_at=discovered_at,
        occurred_at=occurred_at,
        classes=list(a.classes),
        items=list(items),
        affected_count=len(people),
        reportable=a.reportable,
        preliminary_due_on=a.preliminary_due_on,
        final_due_on=a.final_due_on,
        status="open",
        source=source,
        created_by=actor,
        created_at=now,
    )
    session.add(inc)
    await session.flush()
    for part in chunks(people, 1000):
        await session.execute(
            insert(IncidentSubject),
            [{"incident_id": inc.id, "customer_id": c} for c in part],
        )
    _history(
        session,
        inc.id,
        "recorded",
        actor,
        now,
        classes=list(a.classes),
        affected=len(people),
        preliminary_due_on=str(a.preliminary_due_on) if a.preliminary_due_on else None,
        final_due_on=str(a.final_due_on) if a.final_due_on else None,
    )
    await session.commit()
    return inc


async def from_send_log(
    session: AsyncSession,
    rules: classes_mod.Rules,
    outbox_id: int,
    *,
    discovered_at: dt.datetime,
    note: str = "",
    actor: str,
    now: dt.datetime,
) -> Incident:
    """Mail sent to the wrong recipient, in one step from the send log: the person whose
    data the mail carried, the items it carried, when it went (R12: a leak)."""
    m = await session.get(OutboxMessage, outbox_id)
    if m is None:
        raise NotFound(f"no send log entry {outbox_id}")
    if m.status != "sent":
        raise InputRejected(f"送信記録 {outbox_id} は送信済みではありません（{m.status}）")
    return await record(
        session,
        rules,
        title=f"誤送信（送信記録 {outbox_id}：{m.channel}）",
        description=note,
        discovered_at=discovered_at,
        occurred_at=m.sent_at,
        customer_ids=[m.customer_id],
        items=list(m.items or []),
        source=f"outbox:{outbox_id}",
        actor=actor,
        now=now,
    )


async def get(session: AsyncSession, incident_id: int) -> Incident:
    inc = await session.get(Incident, incident_id)
    if inc is None:
        raise NotFound(f"no incident {incident_id}")
    return inc


async def notify_by_letter(
    session: AsyncSession, incident_id: int, out: Path, *, actor: str, now: dt.datetime
) -> int:
    """A letter batch (CSV for the print vendor) to every affected person not yet told, and
    the notice recorded on each. Returns how many letters."""
    inc = await get(session, incident_id)
    rows = (
        await session.execute(
            select(
                IncidentSubject.id,
                Customer.name_kanji,
                Customer.postal_code,
                Customer.prefecture,
                Customer.city,
                Customer.address,
            )
            .join(Customer, Customer.id == IncidentSubject.customer_id)
            .where(IncidentSubject.incident_id == inc.id, IncidentSubject.notified_at.is_(None))
            .order_by(IncidentSubject.id)
        )
    ).all()
    unreachable = [r for r in rows if not (r.postal_code and r.address)]
    if unreachable:
        raise InputRejected(
            f"住所のないお客様が {len(unreachable)} 名います（電話等で通知してください）"
        )
    if not rows:
        return 0
    ref = f"letter:{out.name}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(["宛名", "郵便番号", "住所", "件名"])
            for r in rows:
                addr = "".join(x for x in (r.prefecture, r.city, r.address) if x)
                w.writerow([f"{r.name_kanji} 様", r.postal_code, addr, inc.title])
    except OSError as e:
        raise InputRejected(f"{out}: cannot write: {e}") from None
    ids = [r.id for r in rows]
    for part in chunks(ids, 1000):
        await session.execute(
            update(IncidentSubject)
            .where(IncidentSubject.id.in_(part))
            .values(notified_at=now, notified_via="post", notice_ref=ref)
        )
    _history(session, inc.id, "notified", actor, now, via="post", letters=len(ids), ref=ref)
    await session.commit()
    return len(ids)


async def reported(
    session: AsyncSession, incident_id: int, stage: str, *, actor: str, now: dt.datetime
) -> Incident:
    """The 速報 (preliminary) or 確報 (final) report to the PPC was made."""
    inc = await get(session, incident_id)
    if stage == "preliminary":
        inc.preliminary_reported_at = now
    elif stage == "final":
        inc.final_reported_at = now
    else:
        raise InputRejected(f"stage must be preliminary or final, not {stage!r}")
    _history(session, inc.id, f"reported.{stage}", actor, now)
    await session.commit()
    return inc


async def close(
    session: AsyncSession, incident_id: int, *, actor: str, now: dt.datetime
) -> Incident:
    inc = await get(session, incident_id)
    told = await session.scalar(
        select(func.count())
        .select_from(IncidentSubject)
        .where(IncidentSubject.incident_id == inc.id, IncidentSubject.notified_at.is_(None))
    )
    if inc.reportable and (told or inc.final_reported_at is None):
        raise InputRejected("確報の報告と本人への通知が済むまで閉じられません")
    inc.status, inc.closed_at = "closed", now
    _history(session, inc.id, "closed", actor, now)
    await session.commit()
    return inc


def _jst(v: dt.datetime | None) -> str | None:
    return v.astimezone(JST).isoformat() if v else None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: str | None  # ISO 8601, JST
    action: str
    actor: str
    detail: dict[str, Any] | None  # the audit entry's `after` (free-form JSON)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "action": self.action, "actor": self.actor, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Described:
    """One incident as the CLI and the report show it; times ISO 8601 in JST, dates ISO."""

    id: int
    title: str
    status: str
    discovered_at: str | None
    classes: tuple[str, ...]
    class_labels: tuple[str, ...]
    reportable: bool
    affected: int
    notified: int
    items: tuple[str, ...]
    preliminary_due_on: str | None
    final_due_on: str | None
    preliminary_reported_at: str | None
    final_reported_at: str | None
    source: str | None
    history: tuple[HistoryEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "discovered_at": self.discovered_at,
            "classes": list(self.classes),
            "class_labels": list(self.class_labels),
            "reportable": self.reportable,
            "affected": self.affected,
            "notified": self.notified,
            "items": list(self.items),
            "preliminary_due_on": self.preliminary_due_on,
            "final_due_on": self.final_due_on,
            "preliminary_reported_at": self.preliminary_reported_at,
            "final_reported_at": self.final_reported_at,
            "source": self.source,
            "history": [h.to_json() for h in self.history],
        }


async def describe(session: AsyncSession, incident_id: int) -> Described:
    """One incident with its people counts and its history, for the CLI and the report."""
    inc = await get(session, incident_id)
    notified = await session.scalar(
        select(func.count())
        .select_from(IncidentSubject)
        .where(IncidentSubject.incident_id == inc.id, IncidentSubject.notified_at.is_not(None))
    )
    history = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "incident", AuditEntry.entity_id == str(inc.id))
            .order_by(AuditEntry.id)
        )
    ).all()
    return Described(
        id=inc.id,
        title=inc.title,
        status=inc.status,
        discovered_at=_jst(inc.discovered_at),
        classes=tuple(inc.classes),
        class_labels=tuple(classes_mod.CLASSES[c] for c in inc.classes),
        reportable=inc.reportable,
        affected=inc.affected_count,
        notified=notified or 0,
        items=tuple(inc.items),
        preliminary_due_on=str(inc.preliminary_due_on) if inc.preliminary_due_on else None,
        final_due_on=str(inc.final_due_on) if inc.final_due_on else None,
        preliminary_reported_at=_jst(inc.preliminary_reported_at),
        final_reported_at=_jst(inc.final_reported_at),
        source=inc.source,
        history=tuple(
            HistoryEntry(at=_jst(h.at), action=h.action, actor=h.actor, detail=h.after)
            for h in history
        ),
    )
