"""The scheduler: two real `outreach scheduler` processes on one PostgreSQL database — one
fires, the other stands by and takes over when the leader is killed; no duplicate entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import time
from pathlib import Path

import dailykit as kit
from conftest import cli_env
from sqlalchemy import func, select

from outreach import bootstrap
from outreach.db.models import OutboxMessage, Run

OUTREACH = str(Path(sys.executable).parent / "outreach")
DAY = "2026-04-30"
N = 30


def _jobs(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "every_second.toml").write_text(
        'id = "daily_test"\n'
        'what = "outreach.daily:scheduled"\n'
        'cron = "* * * * *"\n'
        'second = "*"\n'
        "misfire_grace_time = 5\n"
        f'kwargs = {{ date = "{DAY}" }}\n',
        encoding="utf-8",
    )
    return jobs


async def _done_runs(app: bootstrap.App) -> int:
    async with app.sessions() as s:
        stmt = select(func.count()).select_from(Run).where(Run.status == "done")
        return int((await s.execute(stmt)).scalar_one())


async def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(0.1)
    return False


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


async def test_two_schedulers_one_leader_takeover_and_no_duplicates(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: advisory lock. SQLite (one scheduler process is the documented setup):
    the lease row still keeps an accidental second one standing by."""
    async with app.sessions() as s, s.begin():
        await kit.seed_many(s, N, shaken_expiry_on=dt.date(2026, 6, 30))
    env = cli_env(db_url, tmp_path / "data", OUTREACH_JOBS_DIR=_jobs(tmp_path))
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = []
    for log in logs:
        fh = await asyncio.to_thread(log.open, "wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                OUTREACH,
                "scheduler",
                "--retry-seconds",
                "0.3",
                "--lease-seconds",
                "2",
                env=env,
                stdout=fh,
                stderr=fh,
            )
        )
        fh.close()
    try:
        assert await _wait_for(lambda: any("leader" in _log(p) for p in logs), 30)
        assert await _wait_for(lambda: _done_runs(app), 30)
        await asyncio.sleep(2)  # let both contend for a while
        leaders = [i for i, p in enumerate(logs) if "scheduler: leader" in _log(p)]
        assert len(leaders) == 1, [_log(p) for p in logs]
        lead, other = leaders[0], 1 - leaders[0]
        assert "scheduler: standby" in _log(logs[other])
        before = await _done_runs(app)

        os.kill(procs[lead].pid, signal.SIGKILL)
        await procs[lead].wait()
        assert await _wait_for(lambda: "scheduler: leader" in _log(logs[other]), 20)
        assert await _wait_for(lambda: _runs_after(app, before + 2), 30)
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()
    async with app.sessions() as s:
        total = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        keys = (
            await s.execute(select(func.count(func.distinct(OutboxMessage.idempotency_key))))
        ).scalar_one()
    assert (total, keys) == (N, N)
    assert procs[other].returncode == 0  # a clean stop on SIGTERM


async def _runs_after(app: bootstrap.App, n: int) -> bool:
    return await _done_runs(app) >= n


async def test_two_serve_processes_fire_each_job_once(
    app: bootstrap.App, pg_url: str, tmp_path: Path
) -> None:
    """`outreach serve` runs the scheduler too: two of them on one database, one leader."""
    import socket

    async with app.sessions() as s, s.begin():
        await kit.seed_many(s, N, shaken_expiry_on=dt.date(2026, 6, 30))
    env = cli_env(pg_url, tmp_path / "data", OUTREACH_JOBS_DIR=_jobs(tmp_path))
    logs = [tmp_path / "s1.log", tmp_path / "s2.log"]
    procs = []
    for log in logs:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        fh = await asyncio.to_thread(log.open, "wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                # --no-worker: the scheduler's leadership is under test, not sending.
                OUTREACH,
                "serve",
                "--port",
                str(port),
                "--no-worker",
                env=env,
                stdout=fh,
                stderr=fh,
            )
        )
        fh.close()
    try:
        assert await _wait_for(lambda: _runs_after(app, 3), 60), [_log(p) for p in logs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()
    leaders = [p for p in logs if "scheduler: leader" in _log(p)]
    assert len(leaders) == 1, [_log(p) for p in logs]
    async with app.sessions() as s:
        keys = (
            await s.execute(select(func.count(func.distinct(OutboxMessage.idempotency_key))))
        ).scalar_one()
        total = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    assert (total, keys) == (N, N)
