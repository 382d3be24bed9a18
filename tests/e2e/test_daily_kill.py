"""`outreach run-daily` as a real process: killed half-way with SIGKILL and run again, it
finishes the day with no duplicate and no missing entry; bad input is one line and an exit
code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dailykit as kit
from conftest import REPO, cli_env
from sqlalchemy import func, select

from outreach import bootstrap
from outreach.db.models import OutboxMessage, Run

OUTREACH = str(Path(sys.executable).parent / "outreach")
DAY = "2026-04-30"
N = 600


def _config(tmp_path: Path, chunk_size: int) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    toml = config / "reminders.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("chunk_size = 2000", f"chunk_size = {chunk_size}"), encoding="utf-8"
    )
    return config


async def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        OUTREACH,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def _outbox(app: bootstrap.App) -> tuple[int, int]:
    async with app.sessions() as s:
        total = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        keys = (
            await s.execute(select(func.count(func.distinct(OutboxMessage.idempotency_key))))
        ).scalar_one()
    return int(total), int(keys)


async def test_killed_run_finishes_the_day_on_the_next_run(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    async with app.sessions() as s, s.begin():
        await kit.seed_many(s, N, shaken_expiry_on=dt.date(2026, 6, 30))
    env = cli_env(db_url, tmp_path / "data", OUTREACH_CONFIG_DIR=_config(tmp_path, 25))
    proc = await asyncio.create_subprocess_exec(
        OUTREACH,
        "run-daily",
        "--date",
        DAY,
        "--json",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.returncode is None:
            queued, _ = await _outbox(app)
            if queued >= 3 * 25:  # a few chunks committed: half-way through
                break
            await asyncio.sleep(0.02)
        assert proc.returncode is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    partial, _ = await _outbox(app)
    assert 0 < partial < N

    code, out, err = await _run(env, "run-daily", "--date", DAY, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["queued"] == N - partial
    assert summary["already_queued"] == partial
    assert summary["candidates"] == N
    assert await _outbox(app) == (N, N)  # no duplicate, none missing
    async with app.sessions() as s:
        runs = (await s.execute(select(Run.status).order_by(Run.id))).scalars().all()
    assert runs == ["running", "done"]  # the killed run never claims to have finished

    code, out, err = await _run(env, "runs", "--json")
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)] == ["done", "running"]


def test_bad_date_and_bad_config_are_one_line_and_exit_2(db_url: str, tmp_path: Path) -> None:
    env = cli_env(db_url, tmp_path / "data")
    bad_date = subprocess.run(
        [OUTREACH, "run-daily", "--date", "2026-13-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_date.returncode == 2
    assert "Traceback" not in bad_date.stderr and len(bad_date.stderr.strip().splitlines()) == 1

    config = _config(tmp_path, 100)
    toml = config / "reminders.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("months_before = 2\n", "months_before = -2\n", 1),
        encoding="utf-8",
    )
    broken = subprocess.run(
        [OUTREACH, "run-daily", "--date", DAY],
        env={**env, "OUTREACH_CONFIG_DIR": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 2
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in broken.stderr
    assert f"{toml}:" in lines[0] and "kinds.shaken.stages" in lines[0]
