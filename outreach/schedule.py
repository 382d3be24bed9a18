"""The job scheduler: jobs declared in jobs/*.toml, fired by one leader. The only module that
imports APScheduler.

Each job file names what runs (a dotted callable inside `outreach`, "module:function"),
when (a 5-field cron line, Asia/Tokyo unless `timezone` says otherwise, plus an optional
`second` field), its misfire grace time and whether missed fires coalesce into one. Jobs live
in APScheduler's SQLAlchemy job store in the application database, so a restart keeps the
schedule and a fire missed while no scheduler ran is caught up once (within the grace time).

Only one process fires jobs, however many run `outreach scheduler` or `outreach serve`:

- PostgreSQL: the leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a
  dedicated connection. When the leader dies its connection closes, the lock is released,
  and a standby, retrying every few seconds, takes over.
- SQLite: a lease row in `leases` with an expiry, renewed by the holder. SQLite is the
  single-machine setup: run the scheduler in ONE process (one `outreach serve` or one
  `outreach scheduler`); the lease only guards against an accidental second one.

The jobs are idempotent themselves (the daily run's unique keys), so even a brief overlap
during a takeover cannot queue a message twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import os
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outreach import bootstrap, logs, metrics
from outreach.db.engine import is_postgres, sync_url
from outreach.db.models import Lease
from outreach.errors import ConfigError

log = logging.getLogger(__name__)

LOCK_KEY = 0x6F757472_65616368 & 0x7FFFFFFFFFFFFFFF  # "outreach": the scheduler leader lock
LEASE_NAME = "scheduler"
JOB_TABLE = "scheduler_jobs"
DEFAULT_TZ = "Asia/Tokyo"


@dataclass(frozen=True)
class JobSpec:
    id: str
    what: str  # "outreach.module:function"
    cron: str  # minute hour day month day_of_week
    second: str = "0"
    timezone: str = DEFAULT_TZ
    misfire_grace_time: int = 3600
    coalesce: bool = True
    max_instances: int = 1
    kwargs: tuple[tuple[str, Any], ...] = ()  # keyword arguments passed to the callable
    source: str = ""


def load_jobs(jobs_dir: Path) -> list[JobSpec]:
    """Every jobs/*.toml, validated: a mistake is a ConfigError naming the file and field."""
    if not jobs_dir.is_dir():
        raise ConfigError(f"{jobs_dir}: jobs folder not found")
    specs = [_load_job(p) for p in sorted(jobs_dir.glob("*.toml"))]
    ids = [s.id for s in specs]
    for s in specs:
        if ids.count(s.id) > 1:
            raise ConfigError(f"{s.source}: id: {s.id!r} is declared by more than one job file")
    return specs


def _load_job(path: Path) -> JobSpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e

    def fail(key: str, message: str) -> ConfigError:
        line = _line_of(path, key)
        return ConfigError(f"{path}{f':{line}' if line else ''}: {key}: {message}")

    def get(key: str, kind: type, default: Any = None) -> Any:
        value = data.get(key, default)
        if value is None:
            raise fail(key, "is required")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise fail(key, f"must be a {kind.__name__}, not {value!r}")
        return value

    spec = JobSpec(
        id=get("id", str, path.stem),
        what=get("what", str),
        cron=get("cron", str),
        second=str(get("second", str, "0")),
        timezone=get("timezone", str, DEFAULT_TZ),
        misfire_grace_time=get("misfire_grace_time", int, 3600),
        coalesce=get("coalesce", bool, True),
        max_instances=get("max_instances", int, 1),
        kwargs=tuple(sorted(get("kwargs", dict, {}).items())),
        source=str(path),
    )
    unknown = set(data) - {
        "id",
        "what",
        "cron",
        "second",
        "timezone",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        "kwargs",
        "description",
    }
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key")
    try:
        resolve(spec.what)
    except ConfigError as e:
        raise fail("what", str(e)) from None
    try:
        trigger(spec)
    except (ValueError, KeyError) as e:
        raise fail("cron", f"invalid cron line {spec.cron!r}: {e}") from None
    if spec.misfire_grace_time < 1:
        raise fail("misfire_grace_time", "must be at least 1 second")
    return spec


def _line_of(path: Path, key: str) -> int | None:
    with contextlib.suppress(OSError):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip().startswith(f"{key} ") or line.strip().startswith(f"{key}="):
                return n
    return None


def resolve(what: str) -> Callable[..., Any]:
    """The callable named "outreach.module:function"; only callables inside the package."""
    module_name, _, attr = what.partition(":")
    if not attr or not (module_name == "outreach" or module_name.startswith("outreach.")):
        raise ConfigError(
            f"{what!r} must name a callable in outreach as 'outreach.module:function'"
        )
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{what!r} cannot be found: {e}") from None
    if not callable(fn):
        raise ConfigError(f"{what!r} is not callable")
    return fn  # type: ignore[no-any-return]


def trigger(spec: JobSpec) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    fields = spec.cron.split()
    if len(fields) != 5:
        raise ValueError("expected 5 fields: minute hour day month day_of_week")
    minute, hour, day, month, dow = fields
    return CronTrigger(
        second=spec.second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=dow,
        timezone=spec.timezone,
    )


# --- leadership ------------------------------------------------------------------------------


class Leadership(Protocol):
    async def acquire(self) -> bool: ...
    async def held(self) -> bool: ...
    async def release(self) -> None: ...


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock held on a dedicated connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self.conn is None:
            self.conn = await self.engine.connect()
        try:
            got = (
                await self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            ).scalar()
            await self.conn.commit()  # the lock is session-level: it outlives the transaction
        except Exception:
            await self._drop()
            raise
        if not got:
            await self._drop()  # a standby keeps no idle connection
        return bool(got)

    async def held(self) -> bool:
        if self.conn is None:
            return False
        try:
            await self.conn.execute(text("SELECT 1"))
            await self.conn.commit()
        except Exception:
            log.warning("scheduler: lost the leader connection", exc_info=True)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                await self.conn.commit()
        await self._drop()

    async def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # never hand a lock-holding session back to the pool
            with contextlib.suppress(Exception):
                await conn.close()


class LeaseRow:
    """SQLite (one process runs the scheduler): a lease row with an expiry, renewed."""

    def __init__(self, app: bootstrap.App, holder: str, ttl: dt.timedelta) -> None:
        self.app = app
        self.holder = holder
        self.ttl = ttl
        self.mine = False

    async def _claim(self) -> bool:
        now = self.app.clock.now()
        ins: Any = postgresql.insert if is_postgres(self.app.engine) else sqlite.insert
        t = Lease.__table__
        stmt = ins(t).values(name=LEASE_NAME, holder=self.holder, expires_at=now + self.ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": self.holder, "expires_at": now + self.ttl},
            where=(t.c.expires_at < now) | (t.c.holder == self.holder),
        )
        async with self.app.sessions() as s, s.begin():
            await s.execute(stmt)
            holder = (
                await s.execute(select(Lease.holder).where(Lease.name == LEASE_NAME))
            ).scalar()
        self.mine = holder == self.holder
        return self.mine

    async def acquire(self) -> bool:
        return await self._claim()

    async def held(self) -> bool:
        try:
            return await self._claim()
        except Exception:
            log.warning("scheduler: could not renew the lease", exc_info=True)
            return False

    async def release(self) -> None:
        if not self.mine:
            return
        with contextlib.suppress(Exception):
            async with self.app.sessions() as s, s.begin():
                await s.execute(
                    delete(Lease).where(Lease.name == LEASE_NAME, Lease.holder == self.holder)
                )
        self.mine = False


def leadership(app: bootstrap.App, ttl: dt.timedelta) -> Leadership:
    if is_postgres(app.engine):
        return AdvisoryLock(app.engine)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    return LeaseRow(app, holder, ttl)


# --- the scheduler ---------------------------------------------------------------------------


def build_scheduler(app: bootstrap.App) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    url = sync_url(app.settings.resolved_database_url).render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(
        url=url, tablename=JOB_TABLE, engine_options={"hide_parameters": True}
    )
    return AsyncIOScheduler(jobstores={"default": store}, timezone=DEFAULT_TZ)


class _Running:
    """Counts job runs in flight, so a stop can let them finish instead of cutting them."""

    def __init__(self, scheduler: Any) -> None:
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MISSED,
            EVENT_JOB_SUBMITTED,
        )

        self.count = 0
        scheduler.add_listener(self._started, EVENT_JOB_SUBMITTED)
        scheduler.add_listener(self._ended, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def _started(self, event: Any) -> None:
        self.count += 1
        metrics.job_started(event.job_id)

    def _ended(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        if event.code != EVENT_JOB_MISSED:
            self.count = max(0, self.count - 1)
            metrics.job_ended(event.job_id, ok=event.exception is None)


async def _stop(scheduler: Any, running: _Running, grace: float = 120.0) -> None:
    """Stop firing, let running jobs finish (up to `grace` seconds), then shut down."""
    with contextlib.suppress(Exception):
        scheduler.pause()
    waited = 0.0
    while running.count and waited < grace:
        await asyncio.sleep(0.1)
        waited += 0.1
    scheduler.shutdown(wait=False)


def _signature(job: Any) -> tuple[Any, ...]:
    return (
        job.func_ref if hasattr(job, "func_ref") else job.func,
        str(job.trigger),
        job.misfire_grace_time,
        job.coalesce,
        job.max_instances,
        tuple(sorted(job.kwargs.items())),
    )


def sync_jobs(scheduler: Any, specs: list[JobSpec]) -> None:
    """Make the job store match jobs/: add new, replace changed, remove undeclared jobs.

    An unchanged job keeps its stored next fire time, so a fire missed while no scheduler
    ran is still caught up (once, when `coalesce`) within its misfire grace time."""
    wanted = {s.id: s for s in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            log.info("scheduler: removing job %s (no longer declared)", job.id)
            scheduler.remove_job(job.id)
    for spec in specs:
        trig = trigger(spec)
        new = (
            spec.what,
            str(trig),
            spec.misfire_grace_time,
            spec.coalesce,
            spec.max_instances,
            spec.kwargs,
        )
        job = scheduler.get_job(spec.id)
        if job is not None and _signature(job) == new:
            continue
        scheduler.add_job(
            spec.what,
            trig,
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            kwargs=dict(spec.kwargs),
        )
        log.info("scheduler: job %s scheduled (%s %s)", spec.id, spec.cron, spec.timezone)


async def run_scheduler(
    app: bootstrap.App,
    stop: asyncio.Event,
    *,
    retry: dt.timedelta = dt.timedelta(seconds=5),
    ttl: dt.timedelta = dt.timedelta(seconds=30),
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run until `stop` is set: contend for leadership, fire jobs while leader."""
    specs = load_jobs(app.settings.jobs_dir)
    say = announce or (lambda message: log.info("%s", message))
    lead = leadership(app, ttl)
    scheduler: Any = None
    running: _Running | None = None
    try:
        while not stop.is_set():
            try:
                if scheduler is None:
                    if await lead.acquire():
                        metrics.leader(True)
                        scheduler = build_scheduler(app)
                        running = _Running(scheduler)
                        scheduler.start(paused=True)
                        sync_jobs(scheduler, specs)
                        scheduler.resume()
                        say(f"scheduler: leader (pid {os.getpid()}), {len(specs)} job(s)")
                    else:
                        say(f"scheduler: standby (pid {os.getpid()})")
                elif not await lead.held():
                    say("scheduler: leadership lost; standing by")
                    scheduler.shutdown(wait=False)
                    scheduler = None
                    metrics.leader(False)
            except Exception as e:  # the database is down: keep retrying, never crash
                log.warning("scheduler: %s", logs.mask(str(e)))
                if scheduler is not None:
                    scheduler.shutdown(wait=False)
                    scheduler = None
                    metrics.leader(False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry.total_seconds())
    finally:
        if scheduler is not None and running is not None:
            await _stop(scheduler, running)
        await lead.release()


async def serve_forever(
    app: bootstrap.App,
    *,
    retry: dt.timedelta = dt.timedelta(seconds=5),
    ttl: dt.timedelta = dt.timedelta(seconds=30),
    announce: Callable[[str], None] | None = None,
) -> None:
    """`outreach scheduler`: run in the foreground until SIGINT/SIGTERM."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await run_scheduler(app, stop, retry=retry, ttl=ttl, announce=announce)


# --- inside `outreach serve` ----------------------------------------------------------------

_background: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}


async def start_in_background(app: bootstrap.App) -> None:
    """`serve` startup hook: contend for leadership and fire jobs next to the web app."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(app, stop), name="outreach-scheduler")
    _background[id(app)] = (stop, task)


async def stop_background(app: bootstrap.App) -> None:
    """`serve` shutdown hook: let running jobs finish, release leadership."""
    entry = _background.pop(id(app), None)
    if entry is None:
        return
    stop, task = entry
    stop.set()
    with contextlib.suppress(Exception):
        await task
