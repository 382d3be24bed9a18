"""The stored series: what the database holds, read at scrape time into a Snapshot."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
from outreach.metrics.live import reply_class, stream_of


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
