"""The scheduler loop: contend for leadership, fire jobs while leader; `outreach scheduler`
in the foreground and the background task inside `outreach serve`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

from outreach import bootstrap, logs, metrics
from outreach.schedule.adapter import _Running, _stop, build_scheduler, sync_jobs
from outreach.schedule.jobs import load_jobs
from outreach.schedule.leadership import leadership

log = logging.getLogger("outreach.schedule")


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
