"""/livez, /readyz and /metrics over HTTP on SQLite and PostgreSQL: who may read the metrics,
what readiness says when something is wrong, and the worker's own series (latency and relay
replies) counted against a real SMTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import sendkit
from conftest import cli_env
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text

from outreach import bootstrap, heartbeat, metrics, outbox, pipeline, schedule, settings
from outreach.clock import FixedClock
from outreach.db.models import Lease
from outreach.send import smtp
from outreach.web.app import create_app

OUTREACH = str(Path(sys.executable).with_name("outreach"))


def client(app: bootstrap.App, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(app), client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://outreach.test")


def value(body: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_metrics_answer_loopback_only_without_a_token(app: bootstrap.App) -> None:
    async with client(app) as http:
        assert (await http.get("/metrics")).status_code == 200
        proxied = await http.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
        assert proxied.status_code == 403
        assert (await http.get("/metrics", headers={"Forwarded": "for=1.2.3.4"})).status_code == 403
    async with client(app, "203.0.113.9") as http:
        assert (await http.get("/metrics")).status_code == 403
        assert (await http.get("/livez")).status_code == 200  # liveness is for anyone


async def test_metrics_with_a_token_need_it_from_everywhere(
    app_settings: settings.Settings, clock: FixedClock
) -> None:
    guarded = bootstrap.build(
        app_settings.model_copy(update={"metrics_token": SecretStr("s3cret-scrape")}),
        clock=clock,
    )
    try:
        async with client(guarded, "203.0.113.9") as http:
            assert (await http.get("/metrics")).status_code == 403
            wrong = {"Authorization": "Bearer nope"}
            assert (await http.get("/metrics", headers=wrong)).status_code == 403
            right = {"Authorization": "Bearer s3cret-scrape"}
            r = await http.get("/metrics", headers=right)
            assert r.status_code == 200 and value(r.text, "outreach_database_up") == 1
        async with client(guarded) as http:  # loopback too: the token is the rule
            assert (await http.get("/metrics")).status_code == 403
    finally:
        await guarded.close()


def checks(body: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in cast("list[dict[str, Any]]", body["checks"])}


async def test_readiness_names_a_silent_worker_and_a_missing_leader(
    app: bootstrap.App, clock: FixedClock
) -> None:
    async with app.sessions() as s, s.begin():
        [cid] = await sendkit.add_customers(s, 1)
        due = clock.now() - dt.timedelta(minutes=25)
        await outbox.enqueue(s, [(sendkit.draft(cid, not_before=due), sendkit.permit(cid))])
    async with client(app) as http:
        r = await http.get("/readyz")
    assert r.status_code == 200  # serve stays in rotation: opt-outs still work
    body = r.json()
    assert body["status"] == "degraded"
    got = checks(body)
    assert got["database"]["ok"] and got["migrations"]["ok"]
    assert not got["worker"]["ok"] and "no live worker" in str(got["worker"]["detail"])
    assert "送信ワーカー" in str(got["worker"]["ja"])
    # A worker beats but records nothing for 25 minutes: alive, and silent.
    await heartbeat.beat(
        app.sessions, "w9", now=clock.now(), started_at=due, claimed=0, in_process=False
    )
    async with client(app) as http:
        got = checks((await http.get("/readyz")).json())
        assert value((await http.get("/metrics")).text, "outreach_workers_alive") == 1
    assert not got["worker"]["ok"] and "worker silent" in str(got["worker"]["detail"])
    assert not got["scheduler"]["ok"] and "no scheduler leader" in str(got["scheduler"]["detail"])

    # A leader appears (advisory lock on PostgreSQL, the lease row on SQLite) …
    lock = schedule.leadership(app, dt.timedelta(seconds=30))
    assert await lock.acquire()
    try:
        async with client(app) as http:
            got = checks((await http.get("/readyz")).json())
            assert got["scheduler"]["ok"]
            scraped = (await http.get("/metrics")).text
        assert value(scraped, "outreach_scheduler_leader_present") == 1
        assert value(scraped, "outreach_outbox_ready", channel="email") == 1
        assert value(scraped, "outreach_outbox_ready_lag_seconds", channel="email") >= 25 * 60
    finally:
        await lock.release()
    # … and the worker catches up: the message is sent, the alarm clears.
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 1)
        w = sendkit.make_worker(app.sessions, transport, clock)
        await pipeline.run_batch(w)
        await transport.close()
    async with client(app) as http:
        assert checks((await http.get("/readyz")).json())["worker"]["ok"]


async def test_readiness_fails_when_migrations_are_behind(app: bootstrap.App) -> None:
    async with app.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    async with client(app) as http:
        r = await http.get("/readyz")
        assert r.status_code == 503
        got = checks(r.json())
        assert not got["migrations"]["ok"]
        assert "database at older" in str(got["migrations"]["detail"])
        assert "outreach db upgrade" in str(got["migrations"]["detail"])
        assert value((await http.get("/metrics")).text, "outreach_schema_current") == 0


async def test_readiness_fails_when_the_database_is_unreachable(
    app_settings: settings.Settings, clock: FixedClock
) -> None:
    gone = bootstrap.build(
        app_settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/none"}),
        clock=clock,
    )
    try:
        async with client(gone) as http:
            r = await http.get("/readyz")
            assert r.status_code == 503
            [db] = r.json()["checks"]
            assert db["name"] == "database" and not db["ok"]
            assert "database unreachable" in db["detail"]
            m = await http.get("/metrics")
            assert m.status_code == 200 and value(m.text, "outreach_database_up") == 0
            assert (await http.get("/livez")).status_code == 200
    finally:
        await gone.close()


async def test_the_worker_counts_latency_and_relay_replies(
    app: bootstrap.App, clock: FixedClock
) -> None:
    p = metrics.process()
    before = metrics.exposition(None).decode()
    async with app.sessions() as s, s.begin():
        ids = await sendkit.add_customers(s, 5)
        await outbox.enqueue(s, [(sendkit.draft(c), sendkit.permit(c)) for c in ids])
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
        w = sendkit.make_worker(app.sessions, transport, clock)
        report = await pipeline.run_batch(w)
        await transport.close()
    assert report.results["sent"] == 5 and len(server.received) == 5
    after = metrics.exposition(None).decode()
    name = "outreach_worker_send_seconds_count"
    assert value(after, name, stream="service") - value(before, name, stream="service") == 5
    replies = "outreach_worker_relay_replies_total"
    assert value(after, replies, reply="2xx") - value(before, replies, reply="2xx") == 5
    assert p is metrics.process()  # one registry per process


@pytest.mark.slow
async def test_worker_serves_its_metrics_on_loopback(db_url: str, tmp_path: Path) -> None:
    port = sendkit.free_port()
    proc = await asyncio.create_subprocess_exec(
        OUTREACH,
        "worker",
        "--metrics-port",
        str(port),
        "--idle",
        "0.2",
        env=cli_env(db_url, tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(200):
                try:
                    r = await http.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("worker metrics did not come up")
        assert r.status_code == 200
        assert "outreach_worker_send_seconds" in r.text
        assert value(r.text, "process_resident_memory_bytes") > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()


async def test_sqlite_lease_row_counts_as_a_leader(app: bootstrap.App) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("the lease row is SQLite's leadership")
    async with app.sessions() as s, s.begin():
        s.add(
            Lease(
                name=schedule.LEASE_NAME,
                holder="elsewhere:1",
                expires_at=app.clock.now() - dt.timedelta(seconds=1),
            )
        )
    async with app.sessions() as s:
        assert await metrics.leader_present(s, app.clock.now()) == 0  # expired: nobody leads
