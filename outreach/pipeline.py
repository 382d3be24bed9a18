"""One batch of the outbox worker: claim → gate re-check → render and build → send → record.

Two short transactions per batch, and no commit per message:

1. Claim: claim up to N ready messages, load their template data, ask the gate again for all
   of them with the same Request, persist those decisions, and record the ones the gate now
   refuses ('suppressed', result 'denied', with the reason codes) or defers (back to
   'queued' with the gate's next allowed time). An opt-out committed before this wins.
   (On SQLite, after the first batch, this is a savepoint in the sending transaction before,
   see `drain`: it commits with that batch's results.)
2. Send: re-take the claimed rows (row locks on PostgreSQL, the write lock on SQLite),
   re-read each customer's ledger position under a share lock and ask the gate again for any
   customer whose ledger moved since step 1; then hand the messages to the transport and
   record every result in the same transaction. Because the customer rows stay share-locked
   until the results commit, an opt-out (which updates the customer row) either committed
   before the re-read — and wins — or commits after the sends: no message goes out after an
   opt-out's commit.

Render and build happen between the two, outside any transaction.

`drain` overlaps batches: while batch k is on the wire (its sending transaction open, its
sends in flight), batch k+1 is claimed, re-checked and built — on PostgreSQL on a second
connection; on SQLite, whose one write lock the sending transaction holds, k+1 is claimed
inside k's sending transaction once k's sends are handed out (a savepoint of its own: a
failed claim never costs k's results) and commits with k's results; it is built while the
lock is left free between the two sending transactions (signed with DKIM while k's sends
are still on the wire), and sent only if k's results commit.
On PostgreSQL k+1's sending transaction (a third connection) also begins while k is on the
wire: its re-check runs then, and its sends queue behind k's for the relay's connections,
so the wire does not wait for k's results to be written or for k+1's re-check.
Each batch keeps both transactions and every check of the sequential path: the send-time
re-check, the permit at the door, one attempt row per send.

Delivery is at-least-once (docs/delivery.md): a crash after the relay's 250 and before
step 2 commits leaves the message 'sending'; after its lease it is claimed again and resent
with the same Message-ID (stored in step 1, before the first send).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from outreach import logs, metrics, outbox
from outreach.clock import Clock
from outreach.db import bulk
from outreach.db.models import Customer
from outreach.gate import decision
from outreach.gate.decision import Decision, Permit, Request
from outreach.render import dkim, maildata, templates
from outreach.send import retry
from outreach.send.config import SendingConfig
from outreach.send.protocol import SendResult, Transport
from outreach.send.ratelimit import Budgets, Pacer

S = outbox.Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Composed:
    """A built message, ready for the transport."""

    envelope_from: str
    to: str
    data: bytes
    template_version: str | None = None
    template_hash: str | None = None


class Composer(Protocol):
    """Renders a message's template over the data its permit grants and builds the MIME
    bytes (pure, no I/O)."""

    def compose(
        self,
        permit: Permit,
        message: outbox.Claimed,
        message_id: str,
        data: maildata.MessageData,
        now: dt.datetime,
    ) -> Composed: ...


class Gate(Protocol):
    """The gate's batch path, as the pipeline uses it."""

    async def decide(
        self,
        session: AsyncSession,
        asks: Sequence[tuple[outbox.Claimed, Request]],
        now: dt.datetime,
    ) -> list[Decision]: ...

    async def record(self, session: AsyncSession, decisions: Sequence[Decision]) -> list[int]: ...


@dataclass
class Worker:
    sessions: async_sessionmaker[Any]
    transport: Transport
    composer: Composer
    gate: Gate
    clock: Clock
    config: SendingConfig
    budgets: Budgets | None  # relay and carrier limits, shared through the database
    worker_id: str
    mail_domain: str  # of the Message-IDs
    batch: int = 100
    rng: random.Random = field(default_factory=random.Random)
    # SQLite has one write lock, which the sending transaction holds while it sends. Between
    # two of its transactions the worker leaves it free for at least this long, so an opt-out
    # waiting for the lock gets its turn, not starved: SQLite's busy handler retries after
    # 1, 2, 5, 10, 15, 20, 25 ms..., so a writer that began waiting during one sending
    # transaction (~0.1 s for a batch of 250) is in within the gap after it
    # (`bench/worker_cpu.py --probe`: p95 wait ~0.13 s).
    sqlite_gap: float = 0.025
    pacer: Pacer | None = None  # set from `budgets`
    # DKIM, when configured (`send.service.build_worker`): the composer builds, the worker
    # signs what it built, in a thread of its own, as OpenSSL's RSA releases the GIL, so the
    # signatures take no time from the event loop's sends.
    signer: dkim.Signer | None = None
    wire: asyncio.Semaphore = field(init=False)
    _signing: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.budgets is not None and self.pacer is None:
            self.pacer = Pacer(self.budgets)
        self.wire = asyncio.Semaphore(int(getattr(self.transport, "size", 64)))


@dataclass
class BatchReport:
    claimed: int = 0
    results: Counter[str] = field(default_factory=Counter)
    # The crash window as it was: longest time from a relay's 250 to its result's commit.
    window: float = 0.0

    def add(self, other: BatchReport) -> None:
        self.claimed += other.claimed
        self.results.update(other.results)
        self.window = max(self.window, other.window)


@dataclass
class _Ready:
    message: outbox.Claimed
    permit: Permit
    data: maildata.MessageData
    address: str
    message_id: str
    composed: Composed | None = None
    accepted: float | None = None  # time.monotonic() of the relay's 250


def request_for(m: outbox.Claimed, data: maildata.MessageData | None) -> Request:
    """The same Request the message was queued under (R: re-check at send time)."""
    insurer = data.policy.get("insurer") if data is not None and data.policy else None
    return Request(
        purpose=m.purpose,
        channel=m.channel,
        items=m.items,
        advertising=m.advertising,
        kind=m.kind,
        campaign_id=m.campaign_id,
        insurer=insurer,
    )


@dataclass
class Claim:
    """What the claiming transaction hands to the sending one."""

    ready: list[_Ready]
    marks: dict[int, tuple[Any, ...]]
    results: list[outbox.Result]
    claimed: int
    window: float = 0.0  # set by send_batch
    released: float = 0.0  # time.monotonic() when the claim committed
    sqlite: bool = False
    built: list[_Ready] | None = None  # set by build(): the messages it could build
    build_failed: list[outbox.Result] = field(default_factory=list)  # recorded with the sends
    held_until: float | None = None  # ready messages left: the relay's budget is full till then
    workers: int = 1  # workers sharing the budgets, as the claim saw them
    next: Claim | None = None  # SQLite: the batch claimed inside this one's sending transaction
    building: asyncio.Task[Claim] | None = None  # that batch's build, begun during the sends


async def run_batch(w: Worker) -> BatchReport:
    """Claim, re-check, build, send and record one batch; returns what happened."""
    claim = await claim_batch(w)
    return await finish_batch(w, claim)


async def finish_batch(
    w: Worker,
    claim: Claim,
    *,
    queued: asyncio.Event | None = None,
    claim_next: bool = False,
) -> BatchReport:
    """Send a claimed batch (building what is not built yet) and report it. `queued` is set
    once its sends wait for the wire: the next batch's sends may queue behind them. With
    `claim_next`, the next batch is claimed in the sending transaction (`Claim.next`)."""
    report = BatchReport(claimed=claim.claimed)
    report.results.update(r.result for r in claim.results)
    if claim.ready:
        results = await send_batch(w, claim, queued=queued, claim_next=claim_next)
        report.results.update(r.result for r in results)
        report.window = claim.window
    return report


async def claim_batch(w: Worker) -> Claim:
    """Transaction 1: claim, re-check with the gate, record the refused ones."""
    async with w.sessions() as session, session.begin():
        claim = await _claim_and_check(w, session)
        await outbox.record(session, claim.results, worker=w.worker_id)
        claim.sqlite = session.get_bind().dialect.name == "sqlite"
    claim.released = time.monotonic()
    return claim


_CHUNK = 16  # messages built between two turns of the event loop


async def build(w: Worker, claim: Claim) -> Claim:
    """Render and build a claimed batch a few messages at a time, giving the event loop a
    turn between chunks so the batch on the wire keeps moving (CPU here, I/O there); with
    the worker's signer, each chunk is signed in the signing thread."""
    built: list[_Ready] = []
    for i in range(0, len(claim.ready), _CHUNK):
        ok, failed = _compose(w, claim.ready[i : i + _CHUNK])
        if w.signer is not None and ok:
            ok, unsigned = await _sign(w, w.signer, ok)
            failed += unsigned
        built += ok
        claim.build_failed += failed
        await asyncio.sleep(0)
    claim.built = built
    return claim


async def _sign(
    w: Worker, signer: dkim.Signer, ready: list[_Ready]
) -> tuple[list[_Ready], list[outbox.Result]]:
    if w._signing is None:
        w._signing = ThreadPoolExecutor(1, thread_name_prefix="dkim")
    pairs = [(r, r.composed) for r in ready if r.composed is not None]  # all, once composed
    signed = await asyncio.get_running_loop().run_in_executor(
        w._signing, _sign_all, signer, [c.data for _, c in pairs]
    )
    ok: list[_Ready] = []
    failed: list[outbox.Result] = []
    now = w.clock.now()
    for (r, composed), out in zip(pairs, signed, strict=True):
        if isinstance(out, Exception):
            failed.append(_build_failed(w, r, out, now))
        else:
            r.composed = dataclasses.replace(composed, data=out)
            ok.append(r)
    return ok, failed


def _sign_all(signer: dkim.Signer, messages: list[bytes]) -> list[bytes | Exception]:
    out: list[bytes | Exception] = []
    for data in messages:
        try:
            out.append(signer.sign(data))
        except Exception as e:  # this message's failure, not the chunk's
            out.append(e)
    return out


async def send_batch(
    w: Worker,
    claim: Claim,
    *,
    queued: asyncio.Event | None = None,
    claim_next: bool = False,
) -> list[outbox.Result]:
    """Build the claimed messages (unless built), then transaction 2: re-check, send, record.

    Returns the results of this transaction, build failures included. On SQLite the sending
    transaction begins at least `sqlite_gap` after the worker's last transaction ended (this
    batch's claim, or the sending transaction it was claimed in). With `claim_next`, the next
    batch is claimed in this transaction while its sends are on the wire (`claim.next`).
    """
    if claim.built is None:
        await build(w, claim)
    assert claim.built is not None
    built, results = claim.built, list(claim.build_failed)
    if claim.sqlite:
        rest = claim.released + w.sqlite_gap - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
    then = (lambda session: _claim_in_sending(w, session, claim)) if claim_next else None
    try:
        async with w.sessions() as session, session.begin():
            results += await _send(w, session, built, claim.marks, queued, then)
            await outbox.record(session, results, worker=w.worker_id)
    except BaseException:
        # Rolled back with this transaction: nothing of the next batch to build or send.
        if claim.next is not None and claim.next.building is not None:
            claim.next.building.cancel()
        claim.next = None
        raise
    committed = time.monotonic()
    if claim.next is not None:
        claim.next.released = committed
    accepted = [r.accepted for r in built if r.accepted is not None]
    claim.window = committed - min(accepted) if accepted else 0.0
    return results


async def _claim_in_sending(w: Worker, session: AsyncSession, sending: Claim) -> None:
    """Claim the batch after `sending` inside its sending transaction, into `sending.next`
    (SQLite: the write lock is ours already, and the session is idle while the sends are on
    the wire). Its own savepoint: if the claim fails, it is undone alone and the sends'
    results are still written."""
    try:
        async with session.begin_nested():
            claim = await _claim_and_check(w, session)
            await outbox.record(session, claim.results, worker=w.worker_id)
    except Exception as e:  # the next batch is claimed again on its own; these results stand
        log.warning(
            "worker.claim_failed",
            extra=logs.ids("worker.claim_failed", worker=w.worker_id, error=type(e).__name__),
        )
        return
    claim.sqlite = True
    if w.signer is not None:
        # Signed in the signing thread while this transaction's sends are on the wire (the
        # signatures would not fit in the gap); sent only if this transaction commits. An
        # unsigned build is the event loop's own work: it fills the gap instead.
        claim.building = asyncio.create_task(build(w, claim))
    sending.next = claim


async def _claim_and_check(w: Worker, session: AsyncSession) -> Claim:
    now = w.clock.now()
    claimed = await outbox.claim(
        session,
        worker=w.worker_id,
        limit=w.batch,
        now=now,
        lease=w.config.lease,
        message_domain=w.mail_domain,
        budgets=w.budgets,
    )
    if w.pacer is not None:
        w.pacer.share(claimed.workers)
    if not claimed:
        return Claim([], {}, [], 0, held_until=claimed.held_until, workers=claimed.workers)
    results: list[outbox.Result] = []
    data = await maildata.load(session, claimed)
    live: list[outbox.Claimed] = []
    for m in claimed:
        if m.attempts > w.config.retry.max_attempts:
            # Claimed again and again without a result: a message that kills its worker.
            results.append(_result(m, now, S.FAILED, "perm_fail", detail="too many attempts"))
        elif m.id not in data:
            results.append(_result(m, now, S.FAILED, "perm_fail", detail="customer not found"))
        else:
            live.append(m)
    decisions = await w.gate.decide(session, [(m, request_for(m, data[m.id])) for m in live], now)
    ids = await w.gate.record(session, decisions)
    marks = await _marks(session, {m.customer_id for m in live}, lock=False)
    addresses = {m.id: _address(m, data[m.id]) for m in live}
    blocked = await outbox.suppressed(session, addresses.values())
    ready: list[_Ready] = []
    for m, d, did in zip(live, decisions, ids, strict=True):
        address = addresses[m.id]
        if not d.allowed:
            results.append(_refused(m, d, now))
        elif not address:
            results.append(_result(m, now, S.SUPPRESSED, "suppressed", detail="no address"))
        elif address.lower() in blocked:
            results.append(_result(m, now, S.SUPPRESSED, "suppressed", detail="address suppressed"))
        else:
            assert m.message_id is not None  # set by the claim
            ready.append(_Ready(m, decision.permit_for(d, did), data[m.id], address, m.message_id))
    return Claim(ready, marks, results, len(claimed))


def _compose(w: Worker, ready: list[_Ready]) -> tuple[list[_Ready], list[outbox.Result]]:
    now = w.clock.now()
    built: list[_Ready] = []
    failed: list[outbox.Result] = []
    for r in ready:
        try:
            r.composed = w.composer.compose(r.permit, r.message, r.message_id, r.data, now)
        except Exception as e:  # a template or data fault stops this message, not the batch
            failed.append(_build_failed(w, r, e, now))
        else:
            built.append(r)
    return built, failed


def _build_failed(w: Worker, r: _Ready, e: Exception, now: dt.datetime) -> outbox.Result:
    """A refusal (outside the permit, a refused template text, the sender display hidden, a
    header the MIME writer refuses) is final and shown as such. Anything else is usually a
    template or key ops can fix (missing, unreadable): the message stays on the retry
    schedule rather than failing at once."""
    m = r.message
    final = templates.permanent(e)
    log.error(
        "outbox.build_failed",
        extra=logs.ids(
            "outbox.build_failed",
            outbox_id=m.id,
            attempt=m.attempts,
            status="failed" if final else "queued",
            error=type(e).__name__,
        ),
    )
    detail = f"build refused: {e}" if final else f"build: {e}"
    if not final and m.attempts < w.config.retry.max_attempts:
        later = now + retry.backoff(m.attempts, w.config.retry, w.rng)
        return _result(m, now, S.QUEUED, "temp_fail", detail=detail[:400], not_before=later)
    return _result(m, now, S.FAILED, "perm_fail", detail=detail[:400])


async def _send(
    w: Worker,
    session: AsyncSession,
    ready: list[_Ready],
    marks: dict[int, tuple[Any, ...]],
    queued: asyncio.Event | None = None,
    then: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> list[outbox.Result]:
    now = w.clock.now()
    held = await outbox.hold(
        session, [r.message.id for r in ready], worker=w.worker_id, now=now, lease=w.config.lease
    )
    ready = [r for r in ready if r.message.id in held]  # others were taken over: not ours
    results: list[outbox.Result] = []
    # The cheap re-check: has anything been recorded in these customers' ledgers since the
    # claim? Share-locked until our results commit (see the module docstring).
    current = await _marks(session, {r.message.customer_id for r in ready}, lock=True)
    moved = [
        r for r in ready if current.get(r.message.customer_id) != marks.get(r.message.customer_id)
    ]
    if moved:
        decisions = await w.gate.decide(
            session, [(r.message, request_for(r.message, r.data)) for r in moved], now
        )
        ids = await w.gate.record(session, decisions)
        refused = set()
        for r, d, did in zip(moved, decisions, ids, strict=True):
            if d.allowed:
                r.permit = decision.permit_for(d, did)
            else:
                refused.add(r.message.id)
                results.append(_refused(r.message, d, now))
        ready = [r for r in ready if r.message.id not in refused]
    blocked = await outbox.suppressed(session, (r.address for r in ready))
    tasks: list[asyncio.Task[outbox.Result]] = []
    sending: list[_Ready] = []
    for r in ready:
        if r.address.lower() in blocked:
            results.append(
                _result(r.message, now, S.SUPPRESSED, "suppressed", detail="address suppressed")
            )
            continue
        # Checked before any task starts, so a refused permit stops the batch before a send.
        decision.require(
            r.permit, r.message.customer_id, r.message.purpose, r.message.channel, r.message.items
        )
        tasks.append(asyncio.create_task(_deliver(w, r)))
        sending.append(r)
    if queued is not None:
        queued.set()  # every send of this batch waits for a connection (`Worker.wire`)
    if then is not None and tasks:
        await then(session)  # while the sends are on the wire; they never use the session
    # Every send finishes and is recorded, even if one of them fails unexpectedly: a lost
    # result would mean a resend after the lease.
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for r, outcome in zip(sending, done, strict=True):
        if isinstance(outcome, outbox.Result):
            results.append(outcome)
            continue
        if not isinstance(outcome, Exception):
            raise outcome  # CancelledError, KeyboardInterrupt: not ours to swallow
        log.error(
            "outbox.send_crashed",
            extra=logs.ids(
                "outbox.send_crashed", outbox_id=r.message.id, error=type(outcome).__name__
            ),
        )
        m = r.message
        results.append(
            _result(
                m,
                now,
                S.QUEUED,
                retry.Outcome.RETRY.value,
                detail=f"internal: {outcome!r}",
                not_before=now + retry.backoff(m.attempts, w.config.retry, w.rng),
            )
        )
    return results


async def _deliver(w: Worker, r: _Ready) -> outbox.Result:
    m, composed = r.message, r.composed
    assert composed is not None
    # The one door on the sending side: a permit for exactly this customer, purpose,
    # channel and item set, or GateRefused.
    decision.require(r.permit, m.customer_id, m.purpose, m.channel, m.items)
    wait = m.slot - time.time()  # the send time the budgets allotted at the claim
    if wait > 0:
        await asyncio.sleep(wait)
    async with w.wire:  # as many sends in hand as the transport has connections
        if w.pacer is not None:
            # This worker's own share of the per-second limits, taken right before the send
            # (with a connection free, so the pause is not spent again waiting for one).
            pause = w.pacer.take(r.address)
            if pause > 0:
                await asyncio.sleep(pause)
        handed = time.monotonic()
        sent = await w.transport.send(r.permit, composed.envelope_from, [r.address], composed.data)
    metrics.relay_reply(sent.code, time.monotonic() - handed, advertising=m.advertising)
    if sent.ok:
        r.accepted = time.monotonic()
    outcome = retry.next_step(sent, m.attempts, w.config.retry)
    at = w.clock.now()
    common: dict[str, Any] = {
        "smtp_code": sent.code,
        "detail": sent.detail,
        "message_id": r.message_id,
        "to_address": r.address,
        "basis": r.data.basis or ("purpose" if not m.advertising else None),
        "basis_id": r.data.basis_id,
        "template_version": composed.template_version,
        "template_hash": composed.template_hash,
    }
    if outcome is retry.Outcome.SENT:
        return outbox.Result(m.id, m.attempts, S.SENT, outcome.value, at, **common)
    if outcome is retry.Outcome.RETRY:
        later = at + retry.backoff(m.attempts, w.config.retry, w.rng)
        return outbox.Result(
            m.id, m.attempts, S.QUEUED, outcome.value, at, not_before=later, **common
        )
    if outcome is retry.Outcome.BOUNCE:
        return outbox.Result(
            m.id, m.attempts, S.FAILED, outcome.value, at, suppress=r.address, **common
        )
    return outbox.Result(m.id, m.attempts, S.FAILED, outcome.value, at, **common)


def _address(m: outbox.Claimed, data: maildata.MessageData) -> str:
    return maildata.recipient(m, data.customer)


def _refused(m: outbox.Claimed, d: Decision, now: dt.datetime) -> outbox.Result:
    detail = " ".join(d.reasons)
    if d.deferred and d.deferred_until is not None:
        return _result(
            m, now, S.QUEUED, "deferred", detail=detail, not_before=d.deferred_until, counts=False
        )
    return _result(m, now, S.SUPPRESSED, "denied", detail=detail)


def _result(
    m: outbox.Claimed,
    now: dt.datetime,
    status: outbox.Status,
    result: str,
    *,
    detail: str,
    not_before: dt.datetime | None = None,
    counts: bool = True,
) -> outbox.Result:
    return outbox.Result(
        m.id,
        m.attempts,
        status,
        result,
        now,
        detail=detail,
        not_before=not_before,
        counts_as_attempt=counts,
    )


async def _marks(session: AsyncSession, ids: set[int], *, lock: bool) -> dict[int, tuple[Any, ...]]:
    """Each customer's ledger position and contact state; with `lock`, share-locked."""
    if not ids:
        return {}
    stmt = select(
        Customer.id, Customer.ledger_seq, Customer.email, Customer.status, Customer.use_suspended
    ).where(bulk.among(session, Customer.id, sorted(ids)))
    if lock:
        stmt = stmt.with_for_update(read=True)  # FOR SHARE on PostgreSQL; SQLite: write lock held
    return {row[0]: tuple(row[1:]) for row in (await session.execute(stmt)).all()}


async def drain(
    w: Worker,
    *,
    once: bool = False,
    stop: asyncio.Event | None = None,
    idle: float = 1.0,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> BatchReport:
    """Run batches until stopped; with `once`, until no message is ready.

    Batches overlap (module docstring): the next one is claimed and built while the current
    one is on the wire. A stop finishes the batch in hand and the one already claimed.
    """
    total = BatchReport()
    stop = stop or asyncio.Event()
    current: Claim | None = None
    writing: asyncio.Task[BatchReport] | None = None  # PostgreSQL: a sent batch's results

    def settle(report: BatchReport) -> None:
        total.add(report)
        if on_batch is not None and report.claimed:
            on_batch(report)

    while current is not None or not stop.is_set():
        upcoming: asyncio.Task[Claim] | None = None
        try:
            if current is None and writing is not None:
                # Nothing in hand: the last batch's results first (its report, and what it
                # left ready decides whether `once` is done).
                written, writing = await writing, None
                settle(written)
            if current is None:
                current = await build(w, await claim_batch(w))
            if current.claimed == 0:
                held, current = current.held_until, None
                if held is not None:
                    # Messages are ready, the relay's budget is not: wait for it, even `once`.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(0.0, held - time.time()))
                    continue
                if once:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle)
                continue
            if current.sqlite and current.ready:
                # The next batch is claimed inside this one's sending transaction, while its
                # sends are on the wire (SQLite's write lock is held then anyway), and built
                # in the `sqlite_gap` the lock is then left free for.
                settle(await finish_batch(w, current, claim_next=not stop.is_set()))
                nxt = current.next
                current = None
                if nxt is not None:
                    current = await (nxt.building or build(w, nxt))
                continue
            if not stop.is_set():
                upcoming = asyncio.create_task(_prepare(w))
            if current.sqlite:
                # Nothing to send in this one (all refused or deferred): claim on.
                settle(await finish_batch(w, current))
            else:
                # PostgreSQL: this batch's sending transaction begins (its own connection)
                # while the one before is still on the wire; its sends queue behind that
                # one's for the connections, so the wire never waits for a re-check or a
                # commit. At most two sending transactions are open.
                queued = asyncio.Event()
                finishing = asyncio.create_task(finish_batch(w, current, queued=queued))
                waiting = asyncio.create_task(queued.wait())
                # Its sends are queued, or it ended without any (nothing ready, a failure).
                await asyncio.wait((finishing, waiting), return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                before, writing = writing, finishing
                if before is not None:
                    settle(await before)  # the batch before: written by now, as a rule
            current = None
            if upcoming is not None:
                current = await upcoming
                upcoming = None
        except (DBAPIError, OSError) as e:
            for task in (upcoming, writing):
                if task is not None:
                    # Whatever it claimed comes back after its lease.
                    with contextlib.suppress(Exception):
                        await task
            writing = None
            if once:
                raise
            # A long-running worker outlives a database restart: the batch in hand rolled
            # back (its messages come back after their lease); wait and carry on.
            log.warning(
                "worker.batch_failed",
                extra=logs.ids("worker.batch_failed", worker=w.worker_id, error=type(e).__name__),
            )
            current = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(idle, 5.0))
    if writing is not None:  # stopped with a batch's results still being written
        settle(await writing)
    if w.budgets is not None:
        with contextlib.suppress(DBAPIError, OSError):
            async with w.sessions() as session, session.begin():
                await outbox.leave(session, w.worker_id)
    if w._signing is not None:
        w._signing.shutdown(wait=False)
        w._signing = None
    return total


async def _prepare(w: Worker) -> Claim:
    return await build(w, await claim_batch(w))


def summary(report: BatchReport) -> dict[str, int]:
    """Counts by result, and `crash_window_ms`: the longest 250-to-commit time seen."""
    return {
        "claimed": report.claimed,
        **dict(sorted(report.results.items())),
        "crash_window_ms": round(report.window * 1000),
    }


__all__ = [
    "BatchReport",
    "Claim",
    "Composed",
    "Composer",
    "Gate",
    "SendResult",
    "Worker",
    "build",
    "claim_batch",
    "drain",
    "finish_batch",
    "request_for",
    "run_batch",
    "send_batch",
]
