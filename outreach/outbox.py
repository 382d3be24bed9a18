"""The outbox: gated messages waiting to be sent, claimed by workers, and their results.

- `enqueue` demands a gate `Permit` for each draft and inserts with the unique idempotency
  key (R27); a duplicate is skipped, never an error.
- `claim` hands a batch of ready messages to one worker in one short transaction
  (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers on several machines never share a
  message; SQLite: under the database's write lock). A message left in 'sending' by a dead
  worker is claimable again once its lease has expired. With sending budgets (relay and
  carrier limits, `outreach.send.ratelimit`) it takes only what may be sent now within each
  carrier group's and the relay's budget — the budget rows are locked and moved forward in
  the same transaction, so workers share them — and gives each message its send time;
  everything else stays queued, untouched, with its `not_before`.
- `record` writes a batch of results — status, send-log fields, attempt rows, suppressions —
  as a few executemany statements in the caller's transaction.

Status: queued → sending → sent | failed | suppressed (and back to queued for a retry or a
deferral); staff move a campaign's queued messages to paused or cancelled. Post and phone
entries are never claimed: a letter becomes printed when its batch is confirmed
(`mark_printed`), a call called when its outcome is recorded (outreach.calls).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import addresses as _addresses
from outreach.clock import SystemClock
from outreach.db.bulk import among, conflict_insert
from outreach.db.models import (
    Customer,
    OutboxMessage,
    SendAttempt,
    SendBudget,
    Suppression,
    WorkerHeartbeat,
)
from outreach.gate import decision
from outreach.send import ratelimit


class Status(StrEnum):
    """An outbox row's status; the values are what the database holds."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    PAUSED = "paused"  # a campaign's queued messages while staff hold it (`pause_campaign`)
    CANCELLED = "cancelled"
    PRINTED = "printed"  # a letter whose print batch staff confirmed as sent to print (letters)
    CALLED = "called"  # a call worked from the call list (calls)


STATUSES = tuple(s.value for s in Status)

T: Table = OutboxMessage.__table__  # type: ignore[assignment]
B: Table = SendBudget.__table__  # type: ignore[assignment]
C: Table = Customer.__table__  # type: ignore[assignment]
H: Table = WorkerHeartbeat.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Draft:
    """A message the gate has allowed, ready to be queued."""

    idempotency_key: str
    customer_id: int
    purpose: str
    category: str
    channel: str
    kind: str
    template: str
    items: frozenset[str]
    advertising: bool
    not_before: dt.datetime
    stage: str | None = None
    due_on: dt.date | None = None
    vehicle_id: int | None = None
    policy_id: int | None = None
    campaign_id: int | None = None
    run_id: int | None = None
    to_address: str | None = None


@dataclass(frozen=True)
class Claimed:
    """One claimed outbox row, as the worker needs it."""

    id: int
    idempotency_key: str
    customer_id: int
    vehicle_id: int | None
    policy_id: int | None
    campaign_id: int | None
    run_id: int | None
    decision_id: int | None
    purpose: str
    category: str
    channel: str
    kind: str
    stage: str | None
    due_on: dt.date | None
    template: str
    items: frozenset[str]
    advertising: bool
    attempts: int
    to_address: str | None
    message_id: str | None
    not_before: dt.datetime
    created_at: dt.datetime
    # When the sending budgets let it go (seconds since the epoch; 0: at once).
    slot: float = 0.0


class Claims(list[Claimed]):
    """A claimed batch; `held_until` is set when ready messages were left because the
    relay's budget is full until then (seconds since the epoch); `workers`: how many
    workers share the budgets (live heartbeats, this one included)."""

    held_until: float | None = None
    workers: int = 1


_CLAIMED_COLUMNS = [T.c[f.name] for f in fields(Claimed) if f.name != "slot"]
_ITEMS = [f.name for f in fields(Claimed)].index("items")


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one claimed message; `record` writes a batch of them.

    `status` is the new outbox status (a `Status`); `result` the attempt row's result (sent,
    temp_fail, perm_fail, hard_bounce, suppressed, denied, deferred).
    """

    outbox_id: int
    attempt: int
    status: str
    result: str
    at: dt.datetime
    smtp_code: int | None = None
    detail: str | None = None
    not_before: dt.datetime | None = None  # for status 'queued': when to try again
    counts_as_attempt: bool = True  # a deferral or a rate-limit requeue is not an attempt
    message_id: str | None = None
    to_address: str | None = None
    basis: str | None = None
    basis_id: int | None = None
    template_version: str | None = None
    template_hash: str | None = None
    suppress: str | None = None  # an address to put on the suppression list (hard bounce)


async def enqueue(
    session: AsyncSession,
    items: Sequence[tuple[Draft, decision.Permit]],
    *,
    now: dt.datetime | None = None,
) -> int:
    """Queue each draft under its permit; returns how many were new (duplicates skipped).

    Every permit is checked before anything is written: one draft without a matching permit
    (none, another customer, purpose or channel, or items beyond it) refuses the whole call
    with GateRefused.
    """
    for draft, permit in items:
        decision.require(
            permit, draft.customer_id, draft.purpose, draft.channel, frozenset(draft.items)
        )
    created = now or SystemClock().now()
    rows = [_row(draft, permit, created) for draft, permit in items]
    if not rows:
        return 0
    # One cached statement run executemany ("insertmanyvalues" batches it into multi-row
    # INSERT … RETURNING): compiling a fresh VALUES list per chunk cost most of the daily run.
    stmt = (
        conflict_insert(session, T)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(T.c.id)
    )
    return len((await session.execute(stmt, rows)).all())


def _row(draft: Draft, permit: decision.Permit, created: dt.datetime) -> dict[str, Any]:
    return {
        "idempotency_key": draft.idempotency_key,
        "customer_id": draft.customer_id,
        "vehicle_id": draft.vehicle_id,
        "policy_id": draft.policy_id,
        "campaign_id": draft.campaign_id,
        "run_id": draft.run_id,
        "decision_id": permit.decision_id,
        "purpose": draft.purpose,
        "category": draft.category,
        "channel": draft.channel,
        "kind": draft.kind,
        "stage": draft.stage,
        "due_on": draft.due_on,
        "template": draft.template,
        "items": sorted(draft.items),
        "advertising": draft.advertising,
        "status": Status.QUEUED,
        "not_before": draft.not_before,
        "attempts": 0,
        "to_address": draft.to_address,
        "created_at": created,
    }


def _pick(status: Status, due: Any, order: Any, channel: str | None, limit: int) -> Any:
    q = select(T.c.id).where(T.c.status == status, due)
    if channel is not None:
        q = q.where(T.c.channel == channel)
    # FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite the statement's write lock does the same.
    return q.order_by(order).limit(limit).with_for_update(skip_locked=True).scalar_subquery()


async def claim(
    session: AsyncSession,
    *,
    worker: str,
    limit: int,
    now: dt.datetime,
    lease: dt.timedelta,
    channel: str | None = "email",
    message_domain: str | None = None,
    budgets: ratelimit.Budgets | None = None,
    wall: Callable[[], float] = time.time,
) -> Claims:
    """Claim up to `limit` ready messages for `worker` (status 'sending', attempts + 1).

    With `message_domain`, a message without a Message-ID gets one in the same statement,
    `<outbox-id.batch-nonce@domain>` (globally unique: the id is unique here, the nonce
    random per claim), so it is stored before the first send and a resend after a crash
    carries the same Message-ID. With `budgets`, only what the relay's and each carrier
    group's budget allow is taken, each with its `slot` (send time on the `wall` clock).
    On SQLite it must run under the write lock: as the first statement of its transaction
    (it takes the lock), or in a transaction that holds it already (the worker's sending
    transaction, `pipeline.send_batch(claim_next=True)`).
    """
    values: dict[str, Any] = {
        "status": Status.SENDING,
        "lease_until": now + lease,
        "claimed_by": worker,
        "attempts": T.c.attempts + 1,
    }
    if message_domain is not None:
        nonce = secrets.token_hex(8)
        values["message_id"] = func.coalesce(
            T.c.message_id,
            literal("<") + cast(T.c.id, String) + literal(f".{nonce}@{message_domain}>"),
        )
    if budgets is not None and budgets.names():
        return await _claim_within(session, budgets, values, limit, now, channel, wall)
    # Two picks, each walking an index in order: messages of dead workers (lease expired),
    # then due messages (`ix_outbox_ready`: status, channel, not_before).
    claimed = Claims()
    for status, due, order in (
        (Status.SENDING, T.c.lease_until < now, T.c.lease_until),
        (Status.QUEUED, T.c.not_before <= now, T.c.not_before),
    ):
        want = limit - len(claimed)
        if want <= 0:
            break
        picked = _pick(status, due, order, channel, want)
        stmt = update(T).where(T.c.id.in_(picked)).values(values).returning(*_CLAIMED_COLUMNS)
        claimed.extend(_claimed(row) for row in (await session.execute(stmt)).all())
    claimed.sort(key=lambda c: (c.not_before, c.id))
    return claimed


def _claimed(row: Any, slot: float = 0.0) -> Claimed:
    cols: list[Any] = list(row)
    cols[_ITEMS] = frozenset(cols[_ITEMS] or ())
    cols.append(slot)  # the last field
    return Claimed(*cols)


# Where a message goes (`maildata.recipient`): the customer's current address, else the one
# it was queued for; lower-cased, for the carrier domain match.
_ADDRESS = func.lower(func.coalesce(func.nullif(func.trim(C.c.email), ""), T.c.to_address, ""))


def _in_domains(domains: Iterable[str]) -> Any:
    return or_(
        *(cond for d in domains for cond in (_ADDRESS.like(f"%@{d}"), _ADDRESS.like(f"%.{d}")))
    )


async def _claim_within(
    session: AsyncSession,
    budgets: ratelimit.Budgets,
    values: dict[str, Any],
    limit: int,
    now: dt.datetime,
    channel: str | None,
    wall: Callable[[], float],
) -> Claims:
    tats = await _lock_budgets(session, budgets.names())
    t = wall()
    workers = await _heartbeat(session, str(values["claimed_by"]), t)
    buckets = budgets.fresh(tats)
    room = budgets.relay_room(buckets, t, limit)
    if room <= 0:
        held = Claims()
        held.held_until, held.workers = budgets.relay_next(buckets, t), workers
        return held
    # Candidates: the dead workers' messages (any domain), then the due messages in lanes —
    # one for the domains outside every carrier group, one per carrier group that has
    # budget now (as many as it may take). A carrier without budget is not even read.
    lanes: list[tuple[Any, Any, Any, int]] = [
        (T.c.status == Status.SENDING, T.c.lease_until < now, T.c.lease_until, room)
    ]
    carrier_domains = sorted(budgets.domains)
    others = T.c.not_before <= now
    if carrier_domains:
        others = others & not_(_in_domains(carrier_domains))
    lanes.append((T.c.status == Status.QUEUED, others, T.c.not_before, room))
    for group, n in budgets.open_groups(buckets, t, room).items():
        cond = (T.c.not_before <= now) & _in_domains(budgets.group_domains(group))
        lanes.append((T.c.status == Status.QUEUED, cond, T.c.not_before, n))
    found: list[tuple[int, Any, int, str]] = []
    for rank, (status, due, order, n) in enumerate(lanes):
        q = (
            select(T.c.id, order, _ADDRESS)
            .select_from(T.outerjoin(C, C.c.id == T.c.customer_id))
            .where(status, due)
        )
        if channel is not None:
            q = q.where(T.c.channel == channel)
        q = q.order_by(order).limit(n).with_for_update(skip_locked=True, of=T)
        found.extend((min(rank, 1), at, i, addr) for i, at, addr in (await session.execute(q)))
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    slots = budgets.allot(buckets, t, [budgets.group_of(f[3]) for f in found], limit)
    chosen = {f[2]: at for f, at in zip(found, slots, strict=True) if at is not None}
    if not chosen:
        empty = Claims()
        empty.workers = workers
        return empty
    stmt = (
        update(T)
        .where(
            among(session, T.c.id, sorted(chosen)),
            T.c.status.in_((Status.SENDING, Status.QUEUED)),
        )
        .values(values)
        .returning(*_CLAIMED_COLUMNS)
    )
    rows = (await session.execute(stmt)).all()
    await session.execute(
        update(B).where(B.c.name == bindparam("b_name")).values(tat=bindparam("b_tat")),
        [{"b_name": k, "b_tat": b.tat} for k, b in buckets.items()],
    )
    out = Claims(_claimed(row, chosen[row.id]) for row in rows)
    out.sort(key=lambda c: (c.slot, c.not_before, c.id))
    out.workers = workers
    return out


async def _heartbeat(session: AsyncSession, worker: str, t: float) -> int:
    """Record that `worker` is alive and return the live workers: its one liveness record,
    the `worker_heartbeats` row the console reads too (`outreach.heartbeat`), beaten here at
    every budgeted claim on the budgets' own (wall) clock."""
    at = dt.datetime.fromtimestamp(t, dt.UTC)
    stmt = conflict_insert(session, H).values(
        worker_id=worker, started_at=at, beat_at=at, claimed=0, in_process=False
    )
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"beat_at": at})
    )
    since = at - dt.timedelta(seconds=ratelimit.LIVE)
    live = select(func.count()).select_from(H).where(H.c.beat_at > since)
    return int((await session.execute(live)).scalar_one())


async def leave(session: AsyncSession, worker: str) -> None:
    """A stopping worker's heartbeat goes: the others take its share at their next claim,
    and the console no longer lists it."""
    await session.execute(delete(H).where(H.c.worker_id == worker))


async def _lock_budgets(session: AsyncSession, names: list[str]) -> dict[str, float]:
    """Lock the budget rows (creating missing ones) and read them: an UPDATE first, so on
    SQLite it takes the write lock before anything is read."""
    stmt = update(B).where(B.c.name.in_(names)).values(tat=B.c.tat).returning(B.c.name, B.c.tat)
    got = {name: float(tat) for name, tat in (await session.execute(stmt)).all()}
    missing = [n for n in names if n not in got]
    if missing:
        await session.execute(
            conflict_insert(session, B)
            .values([{"name": n, "tat": 0.0} for n in missing])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        got = {name: float(tat) for name, tat in (await session.execute(stmt)).all()}
    return got


async def hold(
    session: AsyncSession,
    ids: Iterable[int],
    *,
    worker: str,
    now: dt.datetime,
    lease: dt.timedelta,
) -> set[int]:
    """Extend the lease on messages still claimed by `worker`; returns those ids.

    As the first statement of the sending transaction it takes the row locks (PostgreSQL)
    or the write lock (SQLite), so nothing else touches these rows until the results commit.
    A message no longer ours (lease expired and claimed elsewhere) is left out.
    """
    id_list = sorted(ids)
    if not id_list:
        return set()
    stmt = (
        update(T)
        .where(
            among(session, T.c.id, id_list),
            T.c.claimed_by == worker,
            T.c.status == Status.SENDING,
        )
        .values(lease_until=now + lease)
        .returning(T.c.id)
    )
    return set((await session.execute(stmt)).scalars().all())


_UPDATE = (
    update(T)
    .where(T.c.id == bindparam("b_id"), T.c.claimed_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        not_before=func.coalesce(
            bindparam("b_not_before", type_=T.c.not_before.type), T.c.not_before
        ),
        lease_until=None,
        attempts=T.c.attempts - bindparam("b_uncount"),
        last_error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at", type_=T.c.sent_at.type),
        message_id=func.coalesce(
            bindparam("b_message_id", type_=T.c.message_id.type), T.c.message_id
        ),
        to_address=func.coalesce(bindparam("b_to", type_=T.c.to_address.type), T.c.to_address),
        basis=func.coalesce(bindparam("b_basis", type_=T.c.basis.type), T.c.basis),
        basis_id=func.coalesce(bindparam("b_basis_id", type_=T.c.basis_id.type), T.c.basis_id),
        template_version=func.coalesce(
            bindparam("b_tver", type_=T.c.template_version.type), T.c.template_version
        ),
        template_hash=func.coalesce(
            bindparam("b_thash", type_=T.c.template_hash.type), T.c.template_hash
        ),
    )
)


# Core, not the ORM entity: the ORM's bulk-insert path costs ~5-10 us more per row.
A: Table = SendAttempt.__table__  # type: ignore[assignment]
_ATTEMPT = insert(A)


async def record(session: AsyncSession, results: Sequence[Result], *, worker: str) -> None:
    """Write a batch of results in the caller's transaction: one executemany per table."""
    if not results:
        return
    await session.execute(
        _UPDATE,
        [
            {
                "b_id": r.outbox_id,
                "b_worker": worker,
                "b_status": r.status,
                "b_not_before": r.not_before,
                "b_uncount": 0 if r.counts_as_attempt else 1,
                "b_error": None if r.status == Status.SENT else (r.detail or r.result)[:400],
                "b_sent_at": r.at if r.status == Status.SENT else None,
                "b_message_id": r.message_id,
                "b_to": r.to_address,
                "b_basis": r.basis,
                "b_basis_id": r.basis_id,
                "b_tver": r.template_version,
                "b_thash": r.template_hash,
            }
            for r in results
        ],
    )
    await session.execute(
        _ATTEMPT,
        [
            {
                "outbox_id": r.outbox_id,
                "attempt": r.attempt,
                "at": r.at,
                "result": r.result,
                "smtp_code": r.smtp_code,
                "detail": (r.detail or None) and r.detail[:400],
                "worker": worker,
            }
            for r in results
        ],
    )
    bounced = {_addresses.normalise(r.suppress): r for r in results if r.suppress}
    if bounced:
        await session.execute(
            conflict_insert(session, Suppression)
            .values(
                [
                    {
                        "email": email,
                        "reason": "hard_bounce",
                        "detail": (r.detail or "")[:400],
                        "created_at": r.at,
                    }
                    for email, r in bounced.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["email"])
        )


async def suppressed(session: AsyncSession, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses (lower-cased) are on the suppression list, matched in the
    normalised form (`outreach.addresses`: domain case, trailing dots)."""
    given = [a for a in addresses if a]
    wanted = sorted({_addresses.normalise(a) for a in given})
    if not wanted:
        return set()
    stmt = select(Suppression.email).where(among(session, Suppression.email, wanted))
    rows = await session.execute(stmt)
    found = set(rows.scalars())
    return {a.lower() for a in given if _addresses.normalise(a) in found}


async def ready(session: AsyncSession, *, now: dt.datetime, channel: str = "email") -> int:
    """How many messages are ready to claim now (due, or left by a dead worker)."""
    due = (T.c.status == Status.QUEUED) & (T.c.not_before <= now)
    dead = (T.c.status == Status.SENDING) & (T.c.lease_until < now)
    stmt = select(func.count()).where(T.c.channel == channel, due | dead)
    return int((await session.execute(stmt)).scalar_one())


async def counts(session: AsyncSession, *, statuses: Sequence[str] | None = None) -> dict[str, int]:
    """Messages per status (every status listed, zero included)."""
    stmt = select(T.c.status, func.count()).group_by(T.c.status)
    if statuses:
        stmt = stmt.where(T.c.status.in_(list(statuses)))
    found = {s: int(n) for s, n in (await session.execute(stmt)).all()}
    return {s: found.get(s, 0) for s in (statuses or STATUSES)} | found


async def mark_printed(session: AsyncSession, batch: str, *, actor: str, now: dt.datetime) -> int:
    """queued → printed for the letters of one print batch, with who and when."""
    stmt = (
        update(T)
        .where(T.c.print_batch == batch, T.c.channel == "post", T.c.status == Status.QUEUED)
        .values(status=Status.PRINTED, printed_at=now, printed_by=actor, sent_at=now)
        .returning(T.c.id)
    )
    return len((await session.execute(stmt)).all())


# -- staff moves: a campaign's messages held, released or cancelled (outreach.staff) -------


async def _move_campaign(
    session: AsyncSession, campaign_id: int, src: Sequence[Status], dst: Status
) -> int:
    result = await session.execute(
        update(T).where(T.c.campaign_id == campaign_id, T.c.status.in_(src)).values(status=dst)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def pause_campaign(session: AsyncSession, campaign_id: int) -> int:
    """A held campaign's queued messages wait as 'paused' (no worker claims them)."""
    return await _move_campaign(session, campaign_id, (Status.QUEUED,), Status.PAUSED)


async def resume_campaign(session: AsyncSession, campaign_id: int) -> int:
    """A released campaign's paused messages are queued again, each with its `not_before`."""
    return await _move_campaign(session, campaign_id, (Status.PAUSED,), Status.QUEUED)


async def cancel_campaign(session: AsyncSession, campaign_id: int) -> int:
    """A cancelled campaign's queued and paused messages are cancelled; sent ones stay."""
    return await _move_campaign(
        session, campaign_id, (Status.QUEUED, Status.PAUSED), Status.CANCELLED
    )
