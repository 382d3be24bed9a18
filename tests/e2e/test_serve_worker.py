"""`outreach serve` is the whole product on one machine: its in-process outbox worker sends
the queued mail to a real SMTP server with no `outreach worker` started; with `--no-worker`
nothing leaves and the console's sending state says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import dailykit as kit
import httpx
import jpholiday
import sendkit
from conftest import cli_env
from test_console_browser import _config, _serve

from outreach import bootstrap, daily, sendstate
from outreach.candidates.calendar import add_months
from outreach.clock import JST, FixedClock


async def _queue_one(app: bootstrap.App, clock: FixedClock, config: Path) -> None:
    """One shaken reminder queued by email, due now (serve uses the real clock): stage 2 on
    the latest business day, decided under the all-day email window of `config`."""
    now = dt.datetime.now(JST)
    day = now.date()
    while day.isoweekday() > 5 or jpholiday.is_holiday(day):
        day -= dt.timedelta(days=1)
    async with app.sessions() as s, s.begin():
        c = await kit.customer(s, 1, post=False, phone=False)
        await kit.vehicle(s, 1, c, shaken_expiry_on=add_months(day, 2))
    clock.at = now
    prepared = daily.setup(config, app.settings.templates_dir)
    summary = await daily.run(app, day, prepared=prepared)
    assert summary.queued == 1 and summary.allowed == 1, summary


async def test_serve_sends_with_its_in_process_worker(
    app: bootstrap.App, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path)  # email around the clock
    await _queue_one(app, clock, config)
    port = sendkit.free_port()
    with sendkit.SmtpServer() as smtp:
        env = cli_env(
            db_url,
            tmp_path / "data",
            OUTREACH_CONFIG_DIR=config,
            OUTREACH_TRANSPORT="smtp",
            OUTREACH_SMTP_URL=smtp.url,
        )
        serve = _serve(env, port, tmp_path / "serve.log")
        try:
            for _ in range(600):
                if smtp.received:
                    break
                await asyncio.sleep(0.1)
        finally:
            serve.terminate()
            serve.wait(30)
    assert len(smtp.received) == 1, (tmp_path / "serve.log").read_text()
    async with app.sessions() as s:
        state = await sendstate.snapshot(s, now=dt.datetime.now(JST))
    assert state.depth.get(("sent", "email")) == 1
    assert state.workers == []  # a clean stop removes the worker's heartbeat


async def test_without_the_worker_nothing_leaves_and_the_console_says_why(
    app: bootstrap.App, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    await _queue_one(app, clock, config)
    port = sendkit.free_port()
    with sendkit.SmtpServer() as smtp:
        env = cli_env(
            db_url,
            tmp_path / "data",
            OUTREACH_CONFIG_DIR=config,
            OUTREACH_TRANSPORT="smtp",
            OUTREACH_SMTP_URL=smtp.url,
        )
        serve = _serve(env, port, tmp_path / "serve.log", "--no-worker")
        try:
            await asyncio.sleep(3)
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        finally:
            serve.terminate()
            serve.wait(30)
        assert smtp.received == []
    async with app.sessions() as s:
        state = await sendstate.snapshot(s, now=dt.datetime.now(JST) + dt.timedelta(hours=1))
    assert state.ready == 1 and state.warning is not None
    assert "動いている送信ワーカーがありません" in state.warning
    assert state.oldest is not None and "ワーカーの処理待ち" in state.oldest.why
