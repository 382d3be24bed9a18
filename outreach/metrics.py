"""Prometheus metrics: what the database holds, counted at scrape time, and what only a
process can see (latencies, leadership), counted where it happens.

Two kinds of series:

- **Stored** (`snapshot`): gate decisions, send attempts, the outbox queue, opt-outs, runs
  and scheduler leadership are read from the database when `/metrics` is scraped. They are
  the same numbers `outreach outbox`, `runs` and the console show, they cover every worker
  process on every machine, and they survive restarts. Counts of rows that are only ever
  added are exposed as counters (`_total`).
- **Process** (`process()`): send latency and relay replies in each `outreach worker`,
  the click-to-effect time of web opt-outs and job durations in `outreach serve`, and
  whether this process leads the scheduler. Each process serves its own: `serve` on
  `/metrics`, a worker on `--metrics-port`.

Every series is documented in docs/operations.md. Labels carry codes only (purpose,
channel, reason code, status, domain group), never an address.

Nothing is created at import: the process registry is built on first use.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import (
    ConsentEvent,
    GateDecision,
    OutboxMessage,
    Run,
    SendAttempt,
    WorkerHeartbeat,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# --- process series -------------------------------------------------------------------------


class Process:
    """The series one process observes itself, in their own registry."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twins
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds
        self.send_seconds = Histogram(
            "outreach_worker_send_seconds",
            "Time from handing a message to the relay to its reply, by stream.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.relay_replies = PromCounter(
            "outreach_worker_relay_replies",
            "Relay replies seen by this worker, by reply class (2xx, 4xx, 5xx, none).",
            ["reply"],
            registry=r,
        )
        self.optout_seconds = Histogram(
            "outreach_optout_effect_seconds",
            "Web opt-outs: from the request's arrival to the committed opt-out, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.job_seconds = Histogram(
            "outreach_job_duration_seconds",
            "Scheduled job runs (daily reminders, campaign fires), by job and outcome.",
            ["job", "outcome"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
            registry=r,
        )
        self.job_last_success = Gauge(
            "outreach_job_last_success_timestamp_seconds",
            "Unix time at which each scheduled job last finished without error.",
            ["job"],
            registry=r,
        )
        self.leader = Gauge(
            "outreach_scheduler_is_leader",
            "1 while this process holds the scheduler leadership, else 0.",
            registry=r,
        )
        self._job_started: dict[str, float] = {}


_process: Process | None = None


def process() -> Process:
    """This process's series (built on first use)."""
    global _process
    if _process is None:
        _process = Process()
    return _process


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve this process's series on addr:port/metrics from a daemon thread (workers)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=process().registry)


def reply_class(code: int | None) -> str:
    return f"{code // 100}xx" if code else "none"


def relay_reply(code: int | None, seconds: float, *, advertising: bool) -> None:
    """Called by the worker for every message handed to the transport."""
    p = process()
    p.relay_replies.labels(reply_class(code)).inc()
    p.send_seconds.labels(stream_of(advertising)).observe(seconds)


def optout_request(route: str, method: str, status: int, seconds: float) -> None:
    """Called by the opt-out handlers: a successful POST is an opt-out taking effect."""
    if method == "POST" and status < 400:
        process().optout_seconds.labels(route).observe(seconds)


def job_started(job: str) -> None:
    process()._job_started[job] = time.monotonic()


def job_ended(job: str, *, ok: bool) -> None:
    p = process()
    started = p._job_started.pop(job, None)
    if started is not None:
        p.job_seconds.labels(job, "ok" if ok else "error").observe(time.monotonic() - started)
    if ok:
        p.job_last_success.labels(job).set(time.time())


def leader(held: bool) -> None:
    process().leader.set(1 if held else 0)


# --- stored series --------------------------------------------------------------------------


def stream_of(advertising: bool | None) -> str:
    return "advertising" if advertising else "service"


@dataclass
class Snapshot:
    """Everything read from the database for one scrape (plain values, testable)."""

    decisions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    denials: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    messages: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    queue: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest: dict[tuple[str, str], float] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)
    ready_late: dict[str, float] = field(default_factory=dict)
    optouts: Counter[tuple[str, str]] = field(default_factory=Counter)
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    run_last_success: dict[str, float] = field(default_factory=dict)
    run_last_duration: dict[str, float] = field(default_factory=dict)
    leader_present: int | None = None
    worker_last_attempt_age: float | None = None
    workers_alive: int | None = None
    schema_current: int | None = None


def domain_group(domain: str | None, groups: Mapping[str, str]) -> str:
    """The carrier group of a recipient domain (config/sending.toml), `other`, or `none`."""
    if not domain:
        return "none"
    d = domain.lower().rstrip(".")
    while d:
        if d in groups:
            return groups[d]
        d = d.partition(".")[2]
    return "other"


def _domain(session: AsyncSession) -> Any:
    addr = OutboxMessage.to_address
    if session.get_bind().dialect.name == "postgresql":
        return func.split_part(addr, "@", 2)
    return func.substr(addr, func.instr(addr, "@") + 1)


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())


async def snapshot(
    session: AsyncSession,
    now: dt.datetime,
    *,
    domain_groups: Mapping[str, str] | None = None,
    leader_present: int | None = None,
    schema_current: int | None = None,
) -> Snapshot:
    """Read every stored series in one read-only session (a handful of GROUP BY queries)."""
    snap = Snapshot(leader_present=leader_present, schema_current=schema_current)
    groups = domain_groups or {}

    outcome = case(
        (GateDecision.allowed.is_(True), "allowed"),
        (GateDecision.deferred_until.is_not(None), "deferred"),
        else_="denied",
    )
    rows = await session.execute(
        select(
            GateDecision.purpose, GateDecision.channel, outcome, GateDecision.reasons, func.count()
        ).group_by(GateDecision.purpose, GateDecision.channel, outcome, GateDecision.reasons)
    )
    for purpose, channel, out, reasons, n in rows:
        snap.decisions[(purpose, channel, out)] += n
        if out != "allowed":
            for reason in (reasons or "").split() or ["unknown"]:
                snap.denials[(purpose, channel, reason)] += n

    domain = _domain(session)
    rows = await session.execute(
        select(SendAttempt.result, OutboxMessage.advertising, domain, func.count())
        .join(OutboxMessage, OutboxMessage.id == SendAttempt.outbox_id)
        .group_by(SendAttempt.result, OutboxMessage.advertising, domain)
    )
    for result, advertising, dom, n in rows:
        snap.messages[(result, stream_of(advertising), domain_group(dom, groups))] += n

    rows = await session.execute(
        select(SendAttempt.smtp_code, func.count()).group_by(SendAttempt.smtp_code)
    )
    for code, n in rows:
        if code is not None:
            snap.replies[reply_class(code)] += n

    rows = await session.execute(
        select(
            OutboxMessage.status,
            OutboxMessage.channel,
            func.count(),
            func.min(OutboxMessage.created_at),
        ).group_by(OutboxMessage.status, OutboxMessage.channel)
    )
    for status, channel, n, oldest in rows:
        snap.queue[(status, channel)] = n
        snap.oldest[(status, channel)] = _age(now, oldest)

    rows = await session.execute(
        select(OutboxMessage.channel, func.count(), func.min(OutboxMessage.not_before))
        .where(OutboxMessage.status == "queued", OutboxMessage.not_before <= now)
        .group_by(OutboxMessage.channel)
    )
    for channel, n, first in rows:
        snap.ready[channel] = n
        snap.ready_late[channel] = _age(now, first)

    rows = await session.execute(
        select(ConsentEvent.action, ConsentEvent.source, func.count())
        .where(ConsentEvent.action.in_(("opt_out", "cessation", "withdraw")))
        .group_by(ConsentEvent.action, ConsentEvent.source)
    )
    for action, source, n in rows:
        snap.optouts[(action, source)] += n

    rows = await session.execute(
        select(Run.kind, Run.status, func.count())
        .where(Run.dry_run.is_(False))
        .group_by(Run.kind, Run.status)
    )
    for kind, status, n in rows:
        snap.runs[(kind, status)] += n
    last = (
        select(Run.kind, func.max(Run.id).label("id"))
        .where(Run.status == "done", Run.dry_run.is_(False))
        .group_by(Run.kind)
        .subquery()
    )
    rows = await session.execute(
        select(Run.kind, Run.started_at, Run.finished_at).join(last, last.c.id == Run.id)
    )
    for kind, started, finished in rows:
        if finished is not None:
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=dt.UTC)
            snap.run_last_success[kind] = finished.timestamp()
            snap.run_last_duration[kind] = _age(finished, started) if started else 0.0

    from outreach.heartbeat import STALE

    snap.workers_alive = int(
        await session.scalar(select(func.count()).where(WorkerHeartbeat.beat_at >= now - STALE))
        or 0
    )
    last_at = (await session.execute(select(func.max(SendAttempt.at)))).scalar()
    snap.worker_last_attempt_age = None if last_at is None else _age(now, last_at)
    return snap


async def leader_present(session: AsyncSession, now: dt.datetime) -> int:
    """1 if some process holds the scheduler leadership (advisory lock / lease row), else 0."""
    from outreach import schedule  # the lock key and lease name live there

    if session.get_bind().dialect.name == "postgresql":
        key = schedule.LOCK_KEY
        n = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :hi AND objid = :lo AND objsubid = 1"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
            )
        ).scalar()
        return 1 if n else 0
    from outreach.db.models import Lease

    expires = (
        await session.execute(select(Lease.expires_at).where(Lease.name == schedule.LEASE_NAME))
    ).scalar()
    return 1 if expires is not None and _age(expires, now) > 0 else 0


def families(snap: Snapshot) -> Iterator[Metric]:
    """The stored series of one snapshot as Prometheus metric families."""
    m: Any = CounterMetricFamily(
        "outreach_gate_decisions",
        "Gate decisions stored, by purpose, channel and outcome (allowed, denied, deferred).",
        labels=["purpose", "channel", "outcome"],
    )
    for (purpose, channel, out), n in sorted(snap.decisions.items()):
        m.add_metric([purpose, channel, out], n)
    yield m
    m = CounterMetricFamily(
        "outreach_gate_refusals",
        "Reasons of the denied and deferred decisions (one decision counts once per reason).",
        labels=["purpose", "channel", "reason"],
    )
    for (purpose, channel, reason), n in sorted(snap.denials.items()):
        m.add_metric([purpose, channel, reason], n)
    yield m
    m = CounterMetricFamily(
        "outreach_send_attempts",
        "Results recorded by the workers (sent, deferred, temp_fail, perm_fail, hard_bounce, "
        "suppressed, denied), by stream and recipient domain group.",
        labels=["result", "stream", "domain_group"],
    )
    for (result, stream, group), n in sorted(snap.messages.items()):
        m.add_metric([result, stream, group], n)
    yield m
    m = CounterMetricFamily(
        "outreach_relay_replies",
        "Relay replies recorded with the attempts, by reply class (2xx, 4xx, 5xx).",
        labels=["reply"],
    )
    for reply, n in sorted(snap.replies.items()):
        m.add_metric([reply], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_messages",
        "Outbox entries by status and channel.",
        labels=["status", "channel"],
    )
    for key, n in sorted(snap.queue.items()):
        m.add_metric(list(key), n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_oldest_age_seconds",
        "Age of the oldest outbox entry in each status and channel (since it was queued).",
        labels=["status", "channel"],
    )
    for key, age in sorted(snap.oldest.items()):
        m.add_metric(list(key), age)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_ready",
        "Queued entries whose time has come (not_before passed), by channel.",
        labels=["channel"],
    )
    for channel, n in sorted(snap.ready.items()):
        m.add_metric([channel], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_ready_lag_seconds",
        "How long the longest-waiting ready entry has been due, by channel.",
        labels=["channel"],
    )
    for channel, age in sorted(snap.ready_late.items()):
        m.add_metric([channel], age)
    yield m
    m = CounterMetricFamily(
        "outreach_optouts",
        "Opt-outs, cessation requests and consent withdrawals in the ledger, by source.",
        labels=["action", "source"],
    )
    for (action, source), n in sorted(snap.optouts.items()):
        m.add_metric([action, source], n)
    yield m
    m = CounterMetricFamily(
        "outreach_runs",
        "Daily runs and campaign fires (not dry runs), by kind and status.",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(snap.runs.items()):
        m.add_metric([kind, status], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_run_last_success_timestamp_seconds",
        "Unix time at which the last successful run of each kind finished.",
        labels=["kind"],
    )
    for kind, ts in sorted(snap.run_last_success.items()):
        m.add_metric([kind], ts)
    yield m
    m = GaugeMetricFamily(
        "outreach_run_last_duration_seconds",
        "Duration of the last successful run of each kind.",
        labels=["kind"],
    )
    for kind, s in sorted(snap.run_last_duration.items()):
        m.add_metric([kind], s)
    yield m
    if snap.worker_last_attempt_age is not None:
        yield GaugeMetricFamily(
            "outreach_worker_last_attempt_age_seconds",
            "Seconds since any worker last recorded a send attempt.",
            value=snap.worker_last_attempt_age,
        )
    if snap.workers_alive is not None:
        yield GaugeMetricFamily(
            "outreach_workers_alive",
            "Outbox workers with a heartbeat in the last 30 seconds (serve's own included).",
            value=snap.workers_alive,
        )
    if snap.leader_present is not None:
        yield GaugeMetricFamily(
            "outreach_scheduler_leader_present",
            "1 if some process holds the scheduler leadership, else 0.",
            value=snap.leader_present,
        )
    if snap.schema_current is not None:
        yield GaugeMetricFamily(
            "outreach_schema_current",
            "1 if the database is migrated to the code's head revision, else 0.",
            value=snap.schema_current,
        )


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def exposition(snap: Snapshot | None, *, include_process: bool = True) -> bytes:
    """The Prometheus text exposition: the stored series of `snap` (None: the database did
    not answer) and this process's series."""
    up = GaugeMetricFamily(
        "outreach_database_up",
        "1 if the database answered this scrape's queries, else 0.",
        value=0 if snap is None else 1,
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([up, *(families(snap) if snap is not None else ())]))
    out = generate_latest(registry)
    if include_process:
        out += generate_latest(process().registry)
    return out
