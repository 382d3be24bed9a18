"""The daily run itself: window, run row, chunks, print batch and call lists, summary;
and the scheduled job's entry point."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import bootstrap, clock, logs, worklists
from outreach.candidates import rules
from outreach.candidates.facts import Window
from outreach.daily.channels import process
from outreach.daily.flags import flag_gaps
from outreach.daily.selection import collect
from outreach.daily.setup import Setup, setup
from outreach.daily.summary import Summary
from outreach.db.models import Run
from outreach.errors import ConfigError
from outreach.gate.context import GateContext
from outreach.letters import batches

log = logging.getLogger("outreach.daily")

Progress = Callable[[int, int], None]  # (done, total)


async def window_for(session: AsyncSession, day: dt.date, r: rules.Rules) -> Window:
    """After the last completed (not dry) daily run before `day`, at most the catch-up limit."""
    last = (
        await session.execute(
            select(func.max(Run.run_date)).where(
                Run.kind == "daily",
                Run.status == "done",
                Run.dry_run.is_(False),
                Run.run_date < day,
            )
        )
    ).scalar()
    floor = day - dt.timedelta(days=r.catch_up_max_days)
    after = day - dt.timedelta(days=1) if last is None else max(last, floor)
    return Window(after=after, through=day)


async def run(
    app: bootstrap.App,
    day: dt.date | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    prepared: Setup | None = None,
) -> Summary:
    """The daily run for `day` (default: today in Asia/Tokyo); returns its summary."""
    s = app.settings
    cfg = prepared or setup(s.config_dir, s.templates_dir, policy=app.policy)
    day = day or clock.today(app.clock)
    now = app.clock.now()
    async with app.sessions() as session, session.begin():
        window = await window_for(session, day, cfg.rules)
        earlier = await _earlier_runs(session, day)
        overlap = await _runs_within(session, window)
        run_row = Run(kind="daily", run_date=day, status="running", dry_run=dry_run, started_at=now)
        session.add(run_row)
        await session.flush()
        run_id = int(run_row.id)
    summary = Summary(run_id=run_id, date=day, window=window, dry_run=dry_run)
    try:
        async with app.sessions() as session:
            found, gaps = await collect(session, cfg.rules, window)
        summary.candidates = total = len(found)
        if progress:
            progress(0, total)
        size = cfg.rules.chunk_size
        for start in range(0, total, size):
            chunk = found[start : start + size]
            async with app.sessions() as session, session.begin():
                await process(
                    session, cfg, chunk, run_id, now, summary, dry_run=dry_run, check=overlap
                )
            if progress:
                progress(min(start + size, total), total)
        if not dry_run and gaps:
            async with app.sessions() as session, session.begin():
                summary.flags = await flag_gaps(session, gaps, now)
        async with app.sessions() as session, session.begin():
            # Rewritten whole from the outbox whenever this run or an earlier (perhaps
            # killed) run of the date queued entries for the channel.
            if not dry_run and (earlier or "post" in summary.channels):
                paths = await batches.prepare(
                    session,
                    s.data_dir,
                    day,
                    encoding=cfg.rules.post_encoding,
                    dealer=app.policy.dealer.sender_name,  # the dealer file in use
                    fields={k: cfg.rules.fields_for(k, "post") for k in cfg.rules.kinds},
                )
                summary.files += [str(p) for p in paths]
            if not dry_run and (earlier or "phone" in summary.channels):
                days = await worklists.call_days(session, day)
                paths = await worklists.write_calls(
                    session, s.data_dir, days, hours=_phone_hours(cfg.gate)
                )
                summary.files += [str(p) for p in paths]
            await _finish(session, run_id, "done", app.clock.now(), summary)
    except BaseException:
        async with app.sessions() as session, session.begin():
            await _finish(session, run_id, "failed", app.clock.now(), summary)
        raise
    return summary


def _phone_hours(ctx: GateContext) -> str:
    w = ctx.policy.windows.get("phone")
    return f"{w.start:%H:%M}〜{w.end:%H:%M}" if w and w.end else "終日"


async def _earlier_runs(session: AsyncSession, day: dt.date) -> bool:
    stmt = (
        select(Run.id)
        .where(Run.kind == "daily", Run.run_date == day, Run.dry_run.is_(False))
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def _runs_within(session: AsyncSession, window: Window) -> bool:
    """Whether any earlier run (done, killed or failed) covered a date of this window: only
    then can a candidate already be queued, and only then is the outbox checked first."""
    stmt = (
        select(Run.id)
        .where(
            Run.kind == "daily",
            Run.dry_run.is_(False),
            Run.run_date > window.after,
            Run.run_date <= window.through,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def _finish(
    session: AsyncSession, run_id: int, status: str, at: dt.datetime, summary: Summary
) -> None:
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(status=status, finished_at=at, summary=summary.as_dict())
    )


async def scheduled(date: str | None = None) -> Summary:
    """Entry point of jobs/daily_reminders.toml: today's run (or `date`, YYYY-MM-DD)."""
    app = bootstrap.build()
    try:
        summary = await run(app, dt.date.fromisoformat(date) if date else None)
        log.info(
            "daily.done", extra=logs.ids("daily.done", run_id=summary.run_id, count=summary.queued)
        )
        return summary
    except ConfigError:
        log.exception("daily.config_refused", extra=logs.ids("daily.config_refused"))
        raise
    finally:
        await app.close()
