"""The consent ledger's verification: every customer's preferences re-derived from the
ledger, the chain re-checked, each mismatch reported."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import ConsentEvent, Customer
from outreach.gate import ledger

BATCH = 1000  # customers per verification batch


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency: `code` is stable (for --json), `detail` says what differs."""

    customer_id: int
    code: str  # seq_gap | prev_hash_mismatch | hash_mismatch | unknown_action | record_out_of_step
    detail: str
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "seq": self.seq,
            "code": self.code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class _Record:
    id: int
    seq: int
    head: str | None
    prefs: ledger.Prefs


async def verify(session: AsyncSession) -> list[Problem]:
    """Check every customer's chain and record; an empty list means all is consistent."""
    problems: list[Problem] = []
    async for customers, events in _batches(session):
        for c in customers:
            problems.extend(check_customer(c.id, events.get(c.id, ()), c.seq, c.head, c.prefs))
    return problems


def check_customer(
    customer_id: int,
    rows: Sequence[Any],
    record_seq: int,
    record_head: str | None,
    record_prefs: ledger.Prefs,
) -> list[Problem]:
    """The problems of one customer's ledger rows (ordered by seq) against their record.

    `rows` are consent_events rows (ORM objects or result rows: attribute access).
    """
    out: list[Problem] = []
    prefs = ledger.Prefs()
    expected_seq = 1
    prev: str | None = None
    for r in rows:
        if r.seq != expected_seq:
            out.append(
                Problem(
                    customer_id, "seq_gap", f"expected seq {expected_seq}, found {r.seq}", r.seq
                )
            )
        if r.prev_hash != prev:
            out.append(
                Problem(
                    customer_id,
                    "prev_hash_mismatch",
                    f"seq {r.seq}: prev_hash does not match the hash of the event before it",
                    r.seq,
                )
            )
        event = ledger.Event(
            customer_id=r.customer_id,
            seq=r.seq,
            action=r.action,
            scope=r.scope,
            source=r.source,
            actor=r.actor,
            occurred_at=r.occurred_at,
            legal_basis=r.legal_basis,
            evidence=r.evidence or {},
        )
        if ledger.event_hash(r.prev_hash, event) != r.hash:
            out.append(
                Problem(customer_id, "hash_mismatch", f"seq {r.seq}: the row was altered", r.seq)
            )
        try:
            prefs = ledger.apply(prefs, event)
        except ValueError:
            out.append(
                Problem(customer_id, "unknown_action", f"seq {r.seq}: action {r.action!r}", r.seq)
            )
        expected_seq = r.seq + 1
        prev = r.hash
    last_seq = rows[-1].seq if rows else 0
    diffs: list[str] = []
    if record_seq != last_seq:
        diffs.append(f"ledger_seq {record_seq} but the ledger ends at seq {last_seq}")
    if record_head != prev:
        diffs.append("ledger_head is not the hash of the last event")
    if record_prefs != prefs:
        diffs.append(_describe(record_prefs, prefs))
    if diffs:
        out.append(Problem(customer_id, "record_out_of_step", "; ".join(diffs)))
    return out


def _describe(record: ledger.Prefs, derived: ledger.Prefs) -> str:
    parts = []
    if record.opt_outs != derived.opt_outs:
        parts.append(
            f"opt_outs {sorted(record.opt_outs)} but ledger gives {sorted(derived.opt_outs)}"
        )
    if record.use_suspended != derived.use_suspended:
        parts.append(
            f"use_suspended {record.use_suspended} but ledger gives {derived.use_suspended}"
        )
    if record.consents != derived.consents:
        parts.append(
            f"consents {sorted(record.consents)} but ledger gives {sorted(derived.consents)}"
        )
    return "; ".join(parts)


async def _batches(
    session: AsyncSession,
) -> AsyncIterator[tuple[list[_Record], dict[int, list[Any]]]]:
    """Customers in id order, BATCH at a time, with their events: two queries per batch."""
    last = -1
    while True:
        rows = (
            await session.execute(
                select(
                    Customer.id,
                    Customer.ledger_seq,
                    Customer.ledger_head,
                    Customer.opt_outs,
                    Customer.use_suspended,
                    Customer.consents,
                )
                .where(Customer.id > last)
                .order_by(Customer.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return
        customers = [
            _Record(
                id=r.id,
                seq=r.ledger_seq,
                head=r.ledger_head,
                prefs=ledger.Prefs(
                    frozenset(r.opt_outs or ()), bool(r.use_suspended), frozenset(r.consents or ())
                ),
            )
            for r in rows
        ]
        first, last = customers[0].id, customers[-1].id
        events: dict[int, list[Any]] = {}
        result = await session.execute(
            select(*ConsentEvent.__table__.c)
            .where(ConsentEvent.customer_id >= first, ConsentEvent.customer_id <= last)
            .order_by(ConsentEvent.customer_id, ConsentEvent.seq)
        )
        for ev in result:
            events.setdefault(ev.customer_id, []).append(ev)
        yield customers, events
