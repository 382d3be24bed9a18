"""SIGKILL a worker at random points: no message is lost, and a message is sent twice only
inside the documented crash window (after the relay's 250, before the results commit).

Real processes (`outreach worker`), PostgreSQL, two workers at once, a real SMTP server.
Each trial queues a fresh set of messages, kills one of the two running workers at a random
moment, starts a replacement and waits until every message of the trial is recorded as sent.
The duplicates found are counted and their window (kill time minus the first copy's 250) is
reported; docs/delivery.md explains the guarantee.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import sendkit
from conftest import cli_env
from sqlalchemy.engine import make_url

from outreach import outbox
from outreach.db import engine as engine_mod

pytestmark = [pytest.mark.slow, pytest.mark.pg]

OUTREACH = str(Path(sys.executable).with_name("outreach"))
TRIALS = 20
PER_TRIAL = 20
CUSTOMERS = 20
LEASE = 1.5  # seconds
BATCH = 5


def pg_connect(db_url: str) -> psycopg.Connection[tuple[object, ...]]:
    u = make_url(db_url)
    return psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    )


async def enqueue(db_url: str, trial: int, *, customers: bool) -> None:
    eng = engine_mod.make_engine(db_url)
    try:
        async with engine_mod.sessionmaker(eng)() as s, s.begin():
            if customers:
                await sendkit.add_customers(s, CUSTOMERS)
            drafts = [sendkit.draft(1 + i % CUSTOMERS, f"t{trial}:{i}") for i in range(PER_TRIAL)]
            await outbox.enqueue(s, [(d, sendkit.permit(d.customer_id)) for d in drafts])
    finally:
        await eng.dispose()


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                OUTREACH,
                "worker",
                "--batch",
                str(BATCH),
                "--lease",
                str(LEASE),
                "--idle",
                "0.05",
                "--concurrency",
                "2",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_sigkill_loses_nothing_and_duplicates_only_in_the_crash_window(
    pg_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20261125)
    sendkit.write_templates(tmp_path / "templates")
    # The relay takes 20 ms per message, so a batch is in flight long enough to be hit.
    with sendkit.SmtpServer(sendkit.Faults(delay=0.02)) as server:
        env = cli_env(
            pg_url,
            tmp_path / "data",
            OUTREACH_TRANSPORT="smtp",
            OUTREACH_SMTP_URL=server.url,
            OUTREACH_TEMPLATES_DIR=tmp_path / "templates",
            OUTREACH_CONFIG_DIR=sendkit.all_day_config(tmp_path / "config"),
            OUTREACH_BASE_URL="https://outreach.example.jp",
        )
        log = tmp_path / "workers.log"
        workers = [start(env, log), start(env, log)]
        time.sleep(1.5)  # both up and polling
        kills: list[float] = []
        windows: list[float] = []
        duplicates = 0
        try:
            with pg_connect(pg_url) as db:
                for trial in range(TRIALS):
                    asyncio.run(enqueue(pg_url, trial, customers=trial == 0))
                    time.sleep(rng.uniform(0.05, 0.6))
                    victim = workers.pop(rng.randrange(2))
                    kill_at = time.time()
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.wait()
                    kills.append(kill_at)
                    workers.append(start(env, log))
                    deadline = time.time() + 30
                    while True:
                        left = db.execute(
                            "SELECT count(*) FROM outbox WHERE idempotency_key LIKE %s"
                            " AND status <> 'sent'",
                            (f"t{trial}:%",),
                        ).fetchone()
                        assert left is not None
                        if left[0] == 0:
                            break
                        assert time.time() < deadline, f"trial {trial}: {left[0]} not sent"
                        time.sleep(0.05)
                    ids = {
                        str(mid).strip("<>")
                        for (mid,) in db.execute(
                            "SELECT message_id FROM outbox WHERE idempotency_key LIKE %s",
                            (f"t{trial}:%",),
                        )
                    }
                    copies = [r for r in server.received if r.message_id in ids]
                    count = Counter(r.message_id for r in copies)
                    assert set(count) == ids, f"trial {trial}: a message never arrived"
                    for mid, n in count.items():
                        if n == 1:
                            continue
                        first, *again = sorted(
                            (r for r in copies if r.message_id == mid), key=lambda r: r.at
                        )
                        # Only the killed worker's in-flight batch can be resent, and only
                        # after the kill, with the same Message-ID. The relay may answer 250
                        # for the first copy just after the kill: its bytes were already
                        # on the wire (then the window below is negative).
                        assert n == 2, f"{mid} arrived {n} times"
                        assert first.at < kill_at + 1.0 and kill_at < again[0].at
                        windows.append(kill_at - first.at)
                        duplicates += 1
                    assert sum(n - 1 for n in count.values()) <= BATCH
        finally:
            for p in workers:
                p.send_signal(signal.SIGTERM)
            for p in workers:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    total = TRIALS * PER_TRIAL
    summary = (
        f"SIGKILL trials={TRIALS} messages={total} duplicates={duplicates} "
        f"({duplicates / total:.1%}); kill time minus the first copy's 250: "
        f"max={max(windows, default=0) * 1000:.0f} ms min={min(windows, default=0) * 1000:.0f} ms "
        f"mean={(sum(windows) / len(windows) * 1000) if windows else 0:.0f} ms"
    )
    print(summary)
    (tmp_path / "summary.txt").write_text(summary)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")
