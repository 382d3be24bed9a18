"""The retention run: delete or anonymise what is past its period (R13), keep the evidence.

Kept whatever the periods say: the consent ledger (opt-outs and their history, §E ≥ 3 years
and the hash chain), Art. 33–35 requests, every email basis of a customer still active (R17:
evidence while the address is in use) and, for a closed customer, any basis whose address got
an advertising email within `consent_evidence_after_last_ad` days. One transaction with one
audit row; a second run finds nothing to do. `dry_run` counts and lists, changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import bootstrap
from outreach.db.bulk import chunks
from outreach.db.models import (
    AuditEntry,
    Customer,
    EmailBasis,
    GateDecision,
    Incident,
    OutboxMessage,
    ProvisionRecord,
    SendAttempt,
    SensitiveRecord,
    Vehicle,
)
from outreach.retention import periods as periods_mod

log = logging.getLogger("outreach.retention")

ANONYMISED = "（保存期間経過により削除）"
_FINAL = ("sent", "failed", "suppressed", "cancelled")
_WORK_FOLDERS = ("print", "calls")
_SAMPLE = 20


@dataclass(slots=True)
class Plan:
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, kind: str, ids: list[Any]) -> None:
        self.counts[kind] = len(ids)
        self.samples[kind] = ids[:_SAMPLE]

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "counts": self.counts, "samples": self.samples}


async def _ids(session: AsyncSession, q: Any) -> list[Any]:
    return list((await session.scalars(q)).all())


async def run(
    session: AsyncSession,
    p: periods_mod.Periods,
    now: dt.datetime,
    *,
    data_dir: Path,
    dry_run: bool,
    actor: str = "job:retention",
) -> Plan:
    plan = Plan(dry_run=dry_run)
    ob = OutboxMessage

    send = await _ids(
        session,
        select(ob.id).where(ob.created_at < p.cutoff("send_log", now), ob.status.in_(_FINAL)),
    )
    plan.add("send_log", send)
    decisions = await _ids(
        session,
        select(GateDecision.id).where(GateDecision.decided_at < p.cutoff("gate_decisions", now)),
    )
    plan.add("gate_decisions", decisions)
    provisions = await _ids(
        session,
        select(ProvisionRecord.id).where(ProvisionRecord.at < p.cutoff("provision_records", now)),
    )
    plan.add("provision_records", provisions)
    incidents = await _ids(
        session,
        select(Incident.id).where(
            Incident.status == "closed", Incident.closed_at < p.cutoff("incidents", now)
        ),
    )
    plan.add("incidents", incidents)
    closed = await _ids(
        session,
        select(Customer.id).where(
            Customer.status.in_(("closed", "deceased")),
            Customer.updated_at < p.cutoff("closed_customers", now),
            Customer.name_kanji != ANONYMISED,
        ),
    )
    plan.add("closed_customers", closed)
    recent_ad = exists().where(
        ob.customer_id == EmailBasis.customer_id,
        ob.to_address == EmailBasis.email,
        ob.advertising.is_(True),
        ob.sent_at >= p.cutoff("consent_evidence_after_last_ad", now),
    )
    bases = (
        await _ids(
            session,
            select(EmailBasis.id).where(EmailBasis.customer_id.in_(closed), ~recent_ad),
        )
        if closed
        else []
    )
    plan.add("consent_evidence_of_closed_customers", bases)
    files = await asyncio.to_thread(_stale_files, data_dir, p.cutoff("work_lists", now))
    plan.add("work_lists", files)
    if dry_run:
        return plan

    for part in chunks(send, 1000):
        await session.execute(delete(SendAttempt).where(SendAttempt.outbox_id.in_(part)))
        await session.execute(delete(ob).where(ob.id.in_(part)))
    for model, ids in (
        (GateDecision, decisions),
        (ProvisionRecord, provisions),
        (Incident, incidents),
        (EmailBasis, bases),
    ):
        for part in chunks(ids, 1000):
            await session.execute(delete(model).where(model.id.in_(part)))
    for part in chunks(closed, 1000):
        await session.execute(delete(SensitiveRecord).where(SensitiveRecord.customer_id.in_(part)))
        await session.execute(
            update(Customer)
            .where(Customer.id.in_(part))
            .values(
                name_kanji=ANONYMISED,
                name_kana=None,
                postal_code=None,
                prefecture=None,
                city=None,
                address=None,
                phone=None,
                email=None,
                birth_date=None,
                updated_at=now,
            )
        )
        await session.execute(
            update(Vehicle)
            .where(and_(Vehicle.user_id.in_(part)))
            .values(owner_name=None, registration_number=None, updated_at=now)
        )
    if provisions:
        # The one path that deletes provision records (R5): the database refuses the DELETE
        # of any row younger than the legal minimum (migration i13b_immutable_records), and
        # the ids of what went are kept here, so the deletion itself is on record.
        session.add(
            AuditEntry(
                actor=actor,
                action="retention.provision_records",
                entity="provision",
                after={
                    "deleted": len(provisions),
                    "ids": provisions,
                    "before": p.cutoff("provision_records", now).isoformat(),
                },
                at=now,
            )
        )
    session.add(
        AuditEntry(
            actor=actor,
            action="retention.run",
            entity="retention",
            after=dict(plan.counts),
            at=now,
        )
    )
    await session.commit()
    # after the commit: a file is never gone while the rows it was made from are not
    await asyncio.to_thread(_remove, files)
    return plan


def _stale_files(data_dir: Path, before: dt.datetime) -> list[str]:
    limit = before.timestamp()
    return sorted(
        str(f)
        for folder in _WORK_FOLDERS
        if (data_dir / folder).is_dir()
        for f in (data_dir / folder).rglob("*")
        if f.is_file() and f.stat().st_mtime < limit
    )


def _remove(files: list[str]) -> None:
    for f in files:
        Path(f).unlink(missing_ok=True)


async def scheduled(dry_run: bool = False) -> Plan:
    """Entry point of jobs/retention.toml."""
    app = bootstrap.build()
    try:
        p = periods_mod.load(app.settings.config_dir / "retention.toml")
        async with app.sessions() as session:
            plan = await run(
                session, p, app.clock.now(), data_dir=app.settings.data_dir, dry_run=dry_run
            )
        log.info("retention done: %s", plan.counts)
        return plan
    finally:
        await app.close()
