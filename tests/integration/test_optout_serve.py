"""`outreach serve` as a real process: health, a one-click opt-out, a clean stop; config errors
in one line. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import cli_env
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.db.models import Customer
from outreach.optout import keys, tokens

OUTREACH = str(Path(sys.executable).with_name("outreach"))
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_answers_and_stops_cleanly(
    app: bootstrap.App, db_url: str, tmp_path: Path
) -> None:
    async with app.sessions.begin() as s:
        await s.execute(
            insert(Customer).values(external_id="C1", name_kanji="客", created_at=T0, updated_at=T0)
        )
        cid = int((await s.execute(select(Customer.id))).scalar_one())
    ring = keys.ring(app.settings)  # the same OUTREACH_SECRET_KEY as cli_env
    token = tokens.issue(
        ring.key, ring.kid, customer_id=cid, outbox_id=1, scope="campaign:1",
        category="marketing", advertising=True,
    )  # fmt: skip
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        OUTREACH,
        "serve",
        "--port",
        str(port),
        "--no-scheduler",
        env=cli_env(db_url, tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
            r = await http.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200 and "location" not in r.headers
            assert "server" not in r.headers  # no server banner
    finally:
        proc.send_signal(signal.SIGTERM)
        _, raw_err = await asyncio.wait_for(proc.communicate(), timeout=30)
    err = raw_err.decode()
    # A clean stop: uvicorn finishes and re-raises the SIGTERM it caught (exit status -15).
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err and "Traceback" not in err
    assert token not in err  # no token (or anything personal) in the server's log
    async with app.sessions() as s:
        c = await s.get(Customer, cid)
        assert c is not None and c.opt_outs == ["category:marketing"]


def test_serve_without_a_secret_is_one_line(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "data")
    env.pop("OUTREACH_SECRET_KEY")
    r = subprocess.run(
        [OUTREACH, "serve", "--port", str(free_port()), "--no-scheduler"],
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: no secret key") and "Traceback" not in r.stderr
