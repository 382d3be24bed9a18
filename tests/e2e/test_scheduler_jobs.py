"""Job declarations, the persistent job store and the leader election primitives."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from outreach import bootstrap, schedule, settings
from outreach.clock import FixedClock
from outreach.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_jobs_load() -> None:
    jobs = {j.id: j for j in schedule.load_jobs(REPO / "jobs")}
    job = jobs["daily_reminders"]
    assert (job.id, job.what, job.cron, job.timezone) == (
        "daily_reminders",
        "outreach.daily:scheduled",
        "0 9 * * *",
        "Asia/Tokyo",
    )
    assert job.coalesce and job.misfire_grace_time == 43200
    fire = schedule.trigger(job).get_next_fire_time(
        None, dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)
    )
    assert fire.isoformat() == "2026-11-26T09:00:00+09:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('what = "outreach.daily:scheduled"\ncron = "0 25 * * *"\n', "cron"),
        ('what = "os:system"\ncron = "0 9 * * *"\n', "what"),
        ('what = "outreach.daily:nothing_here"\ncron = "0 9 * * *"\n', "what"),
        ('what = "outreach.daily:scheduled"\ncron = "0 9 * * *"\ncoalesce = "yes"\n', "coalesce"),
        ('what = "outreach.daily:scheduled"\ncron = "0 9 * * *"\nwhen = 1\n', "when"),
        ('cron = "0 9 * * *"\n', "what"),
        ('what = "outreach.daily:scheduled"\ncron = "0 9 * * *"\nkwargs = { nope = 1 }\n', "what"),
    ],
)
def test_bad_job_files_name_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    (tmp_path / "job.toml").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        schedule.load_jobs(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "job.toml"))
    assert f": {field}:" in str(err.value)


async def test_restart_keeps_the_stored_schedule(app: bootstrap.App) -> None:
    """An unchanged job keeps its stored next fire time across restarts (so a missed fire
    is caught up); a changed one is replaced; an undeclared one is removed."""
    spec = schedule.JobSpec(id="j", what="outreach.daily:scheduled", cron="0 9 * * *")
    first = schedule.build_scheduler(app)
    first.start(paused=True)
    schedule.sync_jobs(first, [spec])
    first.modify_job("j", next_run_time=dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC))
    first.shutdown(wait=False)

    second = schedule.build_scheduler(app)
    second.start(paused=True)
    schedule.sync_jobs(second, [spec])
    assert second.get_job("j").next_run_time == dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    changed = schedule.JobSpec(id="j", what="outreach.daily:scheduled", cron="30 9 * * *")
    schedule.sync_jobs(second, [changed])
    assert second.get_job("j").next_run_time.minute == 30
    schedule.sync_jobs(second, [])
    assert second.get_jobs() == []
    second.shutdown(wait=False)


async def test_a_job_stored_before_the_app_argument_keeps_its_next_fire(
    app: bootstrap.App,
) -> None:
    """A job stored by an older scheduler (no App argument) is replaced with it, keeping its
    stored next fire time: the upgrade does not lose a missed fire."""
    first = schedule.build_scheduler(app)
    first.start(paused=True)
    first.add_job(
        "outreach.retention.job:scheduled",
        schedule.trigger(schedule.JobSpec(id="j", what="x", cron="0 9 * * *")),
        id="j",
        args=(schedule.APP_ARG,),
        next_run_time=dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC),
    )
    store = first._lookup_jobstore("default")  # rewrite the row as an older scheduler stored it
    old = store.lookup_job("j")
    state = old.__getstate__()
    state["args"] = ()
    old.__setstate__(state)
    store.update_job(old)
    first.shutdown(wait=False)

    second = schedule.build_scheduler(app)
    second.start(paused=True)
    spec = schedule.JobSpec(id="j", what="outreach.retention.job:scheduled", cron="0 9 * * *")
    schedule.sync_jobs(second, [spec])
    job = second.get_job("j")
    assert job.args == (schedule.APP_ARG,)
    assert job.next_run_time == dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    second.shutdown(wait=False)


async def test_a_job_runs_on_the_schedulers_app(app: bootstrap.App) -> None:
    """The executor hands every job the App the scheduler was built with, then its kwargs."""
    seen: list[tuple[object, object]] = []
    done = asyncio.Event()

    async def job(given: bootstrap.App, date: str) -> None:
        seen.append((given, date))
        done.set()

    scheduler = schedule.build_scheduler(app)
    scheduler.add_jobstore("memory", alias="memory")
    scheduler.start()
    try:
        scheduler.add_job(
            job, "date", args=(schedule.APP_ARG,), jobstore="memory", kwargs={"date": "2026-04-30"}
        )
        await asyncio.wait_for(done.wait(), 10)
    finally:
        scheduler.shutdown(wait=False)
    assert seen == [(app, "2026-04-30")]


async def test_lease_row_one_holder_until_it_expires(app: bootstrap.App, clock: FixedClock) -> None:
    ttl = dt.timedelta(seconds=30)
    a = schedule.LeaseRow(app, "host:1", ttl)
    b = schedule.LeaseRow(app, "host:2", ttl)
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.held()  # renews
    clock.advance(dt.timedelta(seconds=29))
    assert not await b.acquire()
    clock.advance(dt.timedelta(seconds=31))  # the holder died: its lease ran out
    assert await b.acquire()
    assert not await a.held()
    await b.release()
    assert await a.acquire()


async def test_advisory_lock_one_holder_and_release_on_close(pg_url: str) -> None:
    one = bootstrap.build(_settings(pg_url))
    two = bootstrap.build(_settings(pg_url))
    try:
        a, b = schedule.AdvisoryLock(one.engine), schedule.AdvisoryLock(two.engine)
        assert await a.acquire()
        assert not await b.acquire()
        assert await a.held()
        assert a.conn is not None
        await a.conn.invalidate()  # the holder's session ends without unlocking (its death)
        await a.conn.close()
        a.conn = None
        assert await b.acquire()
        await b.release()
    finally:
        await one.close()
        await two.close()


def _settings(url: str) -> settings.Settings:
    return settings.Settings(database_url=url, secret_key="x")
