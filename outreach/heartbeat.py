"""A running outbox worker with a heartbeat: `outreach worker` and the one inside `serve`.

The worker writes its row in `worker_heartbeats` when it starts and every `INTERVAL` while
it runs (however long a batch takes: the beat is its own task), so the console can tell a
live worker from none at all; the row is removed on a clean stop. It is the worker's one
liveness record: each claim under the relay's budgets beats it too (`outbox.claim`), and the
workers that share those budgets are counted from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from outreach import bootstrap, outbox, pipeline
from outreach.db.bulk import conflict_insert
from outreach.db.models import WorkerHeartbeat

log = logging.getLogger(__name__)

INTERVAL = dt.timedelta(seconds=10)
STALE = 3 * INTERVAL  # no beat for this long: the worker is taken for dead


async def beat(
    sessions: async_sessionmaker[AsyncSession],
    worker_id: str,
    *,
    now: dt.datetime,
    started_at: dt.datetime,
    claimed: int,
    in_process: bool,
) -> None:
    """Insert or refresh this worker's row (one short transaction)."""
    values = {
        "worker_id": worker_id,
        "started_at": started_at,
        "beat_at": now,
        "claimed": claimed,
        "in_process": in_process,
    }
    async with sessions() as s, s.begin():
        stmt = conflict_insert(s, WorkerHeartbeat).values(values)
        stmt = stmt.on_conflict_do_update(
            # The row may be the first budgeted claim's (`outbox.claim`), made before this
            # first beat: it learns the worker's kind here.
            index_elements=["worker_id"],
            set_={"beat_at": now, "claimed": claimed, "in_process": in_process},
        )
        await s.execute(stmt)


async def forget(sessions: async_sessionmaker[AsyncSession], worker_id: str) -> None:
    async with sessions() as s, s.begin():
        await outbox.leave(s, worker_id)


async def run(
    app: bootstrap.App,
    stop: asyncio.Event,
    *,
    in_process: bool,
    once: bool = False,
    idle: float = 1.0,
    worker: pipeline.Worker | None = None,
    on_batch: Callable[[pipeline.BatchReport], None] | None = None,
) -> pipeline.BatchReport:
    """Drain the outbox until `stop` (or, with `once`, until nothing is ready), beating."""
    from outreach.send import service

    w = worker or service.build_worker(app)
    started = app.clock.now()
    done = pipeline.BatchReport()

    def counted(r: pipeline.BatchReport) -> None:
        done.add(r)
        if on_batch is not None:
            on_batch(r)

    async def beating() -> None:
        while True:
            try:
                await beat(
                    app.sessions,
                    w.worker_id,
                    now=app.clock.now(),
                    started_at=started,
                    claimed=done.claimed,
                    in_process=in_process,
                )
            except Exception as e:  # the database is down: the drain loop reports it too
                log.warning("worker heartbeat failed: %s", e)
            await asyncio.sleep(INTERVAL.total_seconds())

    ticker = asyncio.create_task(beating(), name="outreach-worker-heartbeat")
    try:
        return await pipeline.drain(w, once=once, stop=stop, idle=idle, on_batch=counted)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        with contextlib.suppress(Exception):
            await forget(app.sessions, w.worker_id)
        await w.transport.close()


# --- inside `outreach serve` ----------------------------------------------------------------

_background: dict[int, tuple[asyncio.Event, asyncio.Task[pipeline.BatchReport]]] = {}


async def start_in_background(app: bootstrap.App) -> None:
    """`serve` startup hook: the outbox worker next to the web app and the scheduler."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(app, stop, in_process=True), name="outreach-worker")
    task.add_done_callback(_report)
    _background[id(app)] = (stop, task)


def _report(task: asyncio.Task[pipeline.BatchReport]) -> None:
    """A worker that dies says so in the log (the console shows no live worker then)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox worker stopped: %r", task.exception())


async def stop_background(app: bootstrap.App) -> None:
    """`serve` shutdown hook: finish the batch in hand, then stop."""
    entry = _background.pop(id(app), None)
    if entry is None:
        return
    stop, task = entry
    stop.set()
    with contextlib.suppress(Exception):
        await task
