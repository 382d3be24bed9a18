"""Health: is the database there, is its schema current, is a worker keeping up, is there a
scheduler leader — each answer a value that says what is wrong.

Used by `/readyz` (a load balancer takes `serve` out of rotation only when the database
or its schema is wrong: the opt-out pages must stay up while a worker is down) and by the
console's status panel. The worker check fails when email is ready and no worker has a
live heartbeat (outreach.heartbeat), or when email has been due for longer than the
threshold and no worker has recorded any attempt in that time (alive but stuck); an idle
system with nothing to send is not a problem.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import bootstrap, logs, metrics
from outreach.db.models import OutboxMessage, SendAttempt, WorkerHeartbeat

# Failing these makes the process not ready; the others make it "degraded".
BLOCKING = ("database", "migrations")


@dataclass(frozen=True)
class Check:
    name: str  # database | migrations | worker | scheduler
    ok: bool
    detail: str  # English, for ops and logs
    ja: str  # Japanese, for the console


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks if c.name in BLOCKING)

    @property
    def status(self) -> str:
        if not self.ready:
            return "unavailable"
        return "ok" if all(c.ok for c in self.checks) else "degraded"

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "checks": [asdict(c) for c in self.checks]}


def _ok(name: str, detail: str, ja: str) -> Check:
    return Check(name, True, detail, ja)


def _bad(name: str, detail: str, ja: str) -> Check:
    return Check(name, False, detail, ja)


async def database_revision(session: AsyncSession) -> str | None:
    try:
        return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception:  # no table: never migrated
        await session.rollback()
        return None


def schema_check(revision: str | None, heads: set[str]) -> Check:
    if revision in heads:
        return _ok("migrations", f"schema at {revision}", f"スキーマは最新です ({revision})")
    want = ", ".join(sorted(heads))
    return _bad(
        "migrations",
        f"migrations behind: database at {revision or 'none'}, code at {want};"
        " run `outreach db upgrade`",
        f"データベースのスキーマが古いままです（{revision or 'なし'} → {want}）。"
        "`outreach db upgrade` を実行してください",
    )


async def workers_alive(session: AsyncSession, now: dt.datetime) -> int:
    """Workers (`outreach worker` or the one inside `serve`) with a recent heartbeat."""
    from outreach.heartbeat import STALE

    n = await session.scalar(select(func.count()).where(WorkerHeartbeat.beat_at >= now - STALE))
    return int(n or 0)


async def worker_check(session: AsyncSession, now: dt.datetime, silent: dt.timedelta) -> Check:
    due_before = now - silent
    ready = (
        await session.execute(
            select(func.count()).where(
                OutboxMessage.status == "queued",
                OutboxMessage.channel == "email",
                OutboxMessage.not_before <= now,
            )
        )
    ).scalar() or 0
    if ready and not await workers_alive(session, now):
        return _bad(
            "worker",
            f"no live worker: {ready} email(s) ready and no worker heartbeat"
            " (start outreach-worker@1 or serve with its worker)",
            f"送信ワーカーが動いていません：送信待ちのメール {ready} 件",
        )
    waiting = (
        await session.execute(
            select(func.count()).where(
                OutboxMessage.status == "queued",
                OutboxMessage.channel == "email",
                OutboxMessage.not_before <= due_before,
            )
        )
    ).scalar() or 0
    last = (await session.execute(select(func.max(SendAttempt.at)))).scalar()
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    minutes = int(silent.total_seconds() // 60)
    if waiting and (last is None or last < due_before):
        since = "never" if last is None else f"{int((now - last).total_seconds() // 60)} min ago"
        return _bad(
            "worker",
            f"worker silent: {waiting} email(s) due for over {minutes} min, last attempt {since}",
            f"送信ワーカーが止まっています：{minutes}分以上前から送信待ちのメール {waiting} 件",
        )
    return _ok("worker", "worker keeping up", "送信ワーカーは動いています")


def leader_check(present: int) -> Check:
    if present:
        return _ok("scheduler", "scheduler leader present", "スケジューラは動いています")
    return _bad(
        "scheduler",
        "no scheduler leader: daily runs and campaign fires will not happen",
        "スケジューラが動いていません（毎日の実行とキャンペーン配信が行われません）",
    )


async def check(app: bootstrap.App, *, within: float = 5.0) -> Report:
    """Every check, within `within` seconds for the database to answer."""
    from outreach.db import migrate

    now = app.clock.now()
    silent = dt.timedelta(minutes=app.settings.worker_silent_minutes)
    try:
        async with asyncio.timeout(within), app.sessions() as session:
            await session.execute(text("SELECT 1"))
            revision = await database_revision(session)
            schema = schema_check(revision, migrate.current_heads())
            if not schema.ok:
                return Report((_ok("database", "reachable", "接続できます"), schema))
            worker = await worker_check(session, now, silent)
            leader = leader_check(await metrics.leader_present(session, now))
    except Exception as e:  # unreachable, refused, timed out: say which, without details
        detail = f"database unreachable: {type(e).__name__}"
        reason = logs.mask(str(e).splitlines()[0]) if str(e) else ""
        return Report(
            (
                _bad(
                    "database",
                    f"{detail}: {reason}" if reason else detail,
                    "データベースに接続できません",
                ),
            )
        )
    return Report((_ok("database", "reachable", "接続できます"), schema, worker, leader))
