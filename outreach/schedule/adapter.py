"""The APScheduler adapter: cron triggers, the SQLAlchemy job store, in-flight counting and
syncing the store with jobs/. The only module of outreach that imports APScheduler."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from outreach import bootstrap, metrics
from outreach.db.engine import sync_url
from outreach.schedule.jobs import DEFAULT_TZ, JobSpec

log = logging.getLogger("outreach.schedule")

JOB_TABLE = "scheduler_jobs"
# The stored first argument of every job: where the executor puts the scheduler's App (the
# store keeps the textual reference and picklable arguments only; the App is added per run).
APP_ARG = "<app>"


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


def build_scheduler(app: bootstrap.App) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    url = sync_url(app.settings.resolved_database_url).render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(
        url=url, tablename=JOB_TABLE, engine_options={"hide_parameters": True}
    )
    return AsyncIOScheduler(
        jobstores={"default": store}, executors={"default": _executor(app)}, timezone=DEFAULT_TZ
    )


def _executor(app: bootstrap.App) -> Any:
    """APScheduler's asyncio executor, calling every job with `app` in place of its stored
    APP_ARG: the jobs run on the App the composition root built (the scheduler's), never on
    one of their own."""
    from apscheduler.executors.asyncio import AsyncIOExecutor

    class AppExecutor(AsyncIOExecutor):  # type: ignore[misc]
        def _do_submit_job(self, job: Any, run_times: Any) -> Any:
            return super()._do_submit_job(_WithApp(job, app), run_times)

    return AppExecutor()


class _WithApp:
    """A stored job as the executor sees it, its function bound to the App."""

    def __init__(self, job: Any, app: bootstrap.App) -> None:
        if job.args[:1] != (APP_ARG,):
            raise TypeError(f"job {job.id}: stored without the App argument")
        self._job = job
        self.func = functools.partial(job.func, app)
        self.args = job.args[1:]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


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
        tuple(job.args),
        str(job.trigger),
        job.misfire_grace_time,
        job.coalesce,
        job.max_instances,
        tuple(sorted(job.kwargs.items())),
    )


def sync_jobs(scheduler: Any, specs: list[JobSpec]) -> None:
    """Make the job store match jobs/: add new, replace changed, remove undeclared jobs.

    An unchanged job keeps its stored next fire time, so a fire missed while no scheduler
    ran is still caught up (once, when `coalesce`) within its misfire grace time; so does a
    job replaced with the same trigger (another grace time, job arguments)."""
    wanted = {s.id: s for s in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            log.info("scheduler: removing job %s (no longer declared)", job.id)
            scheduler.remove_job(job.id)
    for spec in specs:
        trig = trigger(spec)
        new = (
            spec.what,
            (APP_ARG,),
            str(trig),
            spec.misfire_grace_time,
            spec.coalesce,
            spec.max_instances,
            spec.kwargs,
        )
        job = scheduler.get_job(spec.id)
        if job is not None and _signature(job) == new:
            continue
        keep: dict[str, Any] = {}
        if job is not None and job.next_run_time is not None and str(job.trigger) == str(trig):
            keep["next_run_time"] = job.next_run_time
        scheduler.add_job(
            spec.what,
            trig,
            args=(APP_ARG,),
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            kwargs=dict(spec.kwargs),
            **keep,
        )
        log.info("scheduler: job %s scheduled (%s %s)", spec.id, spec.cron, spec.timezone)
