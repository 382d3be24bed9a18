"""Operating it, end to end on SQLite and PostgreSQL: `outreach demo` (demo data, the daily
run, sending into the capture), then `outreach serve` with its scheduler, a one-click
opt-out from one of the sent mails, and a scrape of `/metrics` and `/readyz`.

- The scraped series give the same numbers the database holds (and the capture folder: one
  .eml per sent message).
- Every log line of every process is structured (JSON with level and event), and none
  quotes a demo customer's name, address, phone, email or an opt-out token.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
from conftest import REPO, cli_env
from prometheus_client.parser import text_string_to_metric_families
from sendkit import free_port
from sqlalchemy import func, select

from outreach import bootstrap, metrics, settings
from outreach.db.models import ConsentEvent, Customer, GateDecision, OutboxMessage, SendAttempt
from outreach.send import config as sending_config

OUTREACH = str(Path(sys.executable).with_name("outreach"))
TOKEN_RE = re.compile(r"/u/([A-Za-z0-9_\-.=~]+)")


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def total(series: list[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in series if all(labels.get(k) == w for k, w in match.items()))


async def personal_data(app: bootstrap.App) -> set[str]:
    """Every name, kana, address, phone and email of the demo customers (4+ characters)."""
    async with app.sessions() as s:
        rows = (
            await s.execute(
                select(
                    Customer.name_kanji,
                    Customer.name_kana,
                    Customer.address,
                    Customer.phone,
                    Customer.email,
                )
            )
        ).all()
    found = {str(v) for row in rows for v in row if v}
    # Names without the space between family and given name, as a log might join them.
    found |= {v.replace(" ", "").replace("\u3000", "") for v in found}
    return {v for v in found if len(v) >= 4}


def scan(logs: str, secrets: set[str]) -> list[str]:
    return sorted(v for v in secrets if v in logs)


def check_structured(stderr: str, who: str) -> int:
    """Every log record is one JSON object with ts, level and event; returns how many."""
    n = 0
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue  # the commands' own human progress lines (no personal data either)
        record = json.loads(line)
        assert {"ts", "level", "logger", "event"} <= set(record), (who, line)
        n += 1
    return n


async def test_metrics_match_the_database_and_logs_hold_no_personal_data(
    app: bootstrap.App, app_settings: settings.Settings, db_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cli_env(db_url, data, OUTREACH_LOG_LEVEL="INFO")
    demo = subprocess.run(  # noqa: ASYNC221 (the test's own setup, before any server)
        [OUTREACH, "demo", "--customers", "1000", "--date", "2026-03-02", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    result = json.loads(demo.stdout)
    emls = sorted(Path(result["capture_dir"]).glob("*.eml"))  # noqa: ASYNC240
    assert emls and len(emls) == result["delivery"]["sent"]
    tokens = {m[1] for p in emls for m in TOKEN_RE.finditer(p.read_text(errors="replace"))}
    assert tokens

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        OUTREACH,
        "serve",
        "--port",
        str(port),
        "--no-worker",  # nothing changes the outbox between the scrape and the count below
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/livez")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
            token = sorted(tokens)[0]
            r = await http.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200
            for _ in range(100):  # the scheduler takes the leadership within a few seconds
                ready = (await http.get("/readyz")).json()
                verdict = {c["name"]: c["ok"] for c in ready["checks"]}
                if verdict["scheduler"]:
                    break
                await asyncio.sleep(0.2)
            assert verdict["database"] and verdict["migrations"] and verdict["scheduler"], ready
            assert [c["name"] for c in ready["checks"]] == [
                "database",
                "migrations",
                "worker",
                "scheduler",
            ]
            for _ in range(100):
                r = await http.get("/metrics")
                assert r.status_code == 200
                if "outreach_scheduler_is_leader 1.0" in r.text:
                    break
                await asyncio.sleep(0.2)
            assert r.headers["content-type"].startswith("text/plain")
            scraped = samples(r.text)
            # Through a proxy (a forwarded header) without a token: refused.
            assert (
                await http.get("/metrics", headers={"X-Forwarded-For": "1.2.3.4"})
            ).status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        _, raw_err = await asyncio.wait_for(proc.communicate(), timeout=60)
    serve_err = raw_err.decode()
    assert "Traceback" not in serve_err

    async with app.sessions() as s:
        decisions = Counter[tuple[str, str, str]]()
        for purpose, channel, allowed, deferred, n in await s.execute(
            select(
                GateDecision.purpose,
                GateDecision.channel,
                GateDecision.allowed,
                GateDecision.deferred_until.is_not(None),
                func.count(),
            ).group_by(
                GateDecision.purpose,
                GateDecision.channel,
                GateDecision.allowed,
                GateDecision.deferred_until.is_not(None),
            )
        ):
            out = "allowed" if allowed else ("deferred" if deferred else "denied")
            decisions[(purpose, channel, out)] += n
        attempts = dict(
            (
                await s.execute(
                    select(SendAttempt.result, func.count()).group_by(SendAttempt.result)
                )
            ).all()
        )
        queue = {
            (st, ch): n
            for st, ch, n in await s.execute(
                select(OutboxMessage.status, OutboxMessage.channel, func.count()).group_by(
                    OutboxMessage.status, OutboxMessage.channel
                )
            )
        }
        optouts = (
            await s.execute(select(func.count()).where(ConsentEvent.action == "opt_out"))
        ).scalar_one()
        sent_to = (
            await s.scalars(select(OutboxMessage.to_address).where(OutboxMessage.status == "sent"))
        ).all()
        sent_rows = len(sent_to)

    assert decisions
    got = scraped["outreach_gate_decisions_total"]
    assert {(x["purpose"], x["channel"], x["outcome"]): v for x, v in got} == decisions
    sent_series = scraped["outreach_send_attempts_total"]
    assert {r for x, _ in sent_series for r in [x["result"]]} == set(attempts)
    for result, n in attempts.items():
        assert total(sent_series, result=result) == n
    assert total(sent_series, result="sent") == sent_rows == len(emls)
    # By recipient domain group, as config/sending.toml groups the carriers' domains.
    groups = sending_config.load(REPO / "config" / "sending.toml").domains
    by_group = Counter(metrics.domain_group(a.rpartition("@")[2], groups) for a in sent_to)
    scraped_groups = Counter[str]()
    for x, v in sent_series:
        if x["result"] == "sent":
            scraped_groups[x["domain_group"]] += int(v)
    assert scraped_groups == by_group
    got_q = {(x["status"], x["channel"]): v for x, v in scraped["outreach_outbox_messages"]}
    assert got_q == queue
    assert total(scraped["outreach_optouts_total"], action="opt_out") == optouts >= 1
    assert total(scraped["outreach_runs_total"], kind="daily", status="done") == 1
    assert scraped["outreach_run_last_success_timestamp_seconds"][0][1] > 0
    assert scraped["outreach_scheduler_leader_present"][0][1] == 1
    assert scraped["outreach_scheduler_is_leader"][0][1] == 1
    assert scraped["outreach_schema_current"][0][1] == 1
    assert scraped["outreach_database_up"][0][1] == 1
    # No worker runs here: the worker check fails exactly when email is ready to go.
    ready_now = total(scraped.get("outreach_outbox_ready", []), channel="email")
    assert scraped["outreach_workers_alive"][0][1] == 0
    assert verdict["worker"] == (ready_now == 0), ready
    # The one-click POST above, seen by the process that served it.
    assert total(scraped["outreach_optout_effect_seconds_count"], route="post") == 1
    assert scraped["process_resident_memory_bytes"][0][1] > 0

    # Logs: structured, and nothing personal in any of them.
    assert check_structured(serve_err, "serve") > 0
    check_structured(demo.stderr, "demo")
    everything = demo.stderr + serve_err
    secrets = await personal_data(app) | tokens
    assert len(secrets) > 300
    assert scan(everything, secrets) == []
