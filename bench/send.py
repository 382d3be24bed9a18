"""Sending throughput, in one run, to the same counting aiosmtpd server with the same pool:

1. raw: aiosmtplib over a pool of 8 reused connections, sending pre-built messages;
2. full path: the outbox worker — claim, gate re-check (persisted), render (sandbox, compiled
   cache), build (fast MIME writer), send, record (batched) — on SQLite (or --pg URL);
3. the full path with DKIM signing (a fresh 2048-bit RSA key).

Every message the server received on the full path is parsed back with the standard
library (`email.policy.default`) and checked, so the speed is not bought with broken mail.

    .venv/bin/python bench/send.py [--quick] [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import email.policy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from sqlalchemy import insert
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from report import figure  # noqa: E402

from outreach import bootstrap, outbox, pipeline, settings  # noqa: E402
from outreach.clock import FixedClock  # noqa: E402
from outreach.db import migrate  # noqa: E402
from outreach.db.models import Customer, Vehicle  # noqa: E402
from outreach.gate import decision, fake, purposes  # noqa: E402
from outreach.gate.context import load_context  # noqa: E402
from outreach.render import templates  # noqa: E402
from outreach.send import config as send_config  # noqa: E402
from outreach.send import service, smtp  # noqa: E402

BATCH = send_config.load(REPO / "config" / "sending.toml").batch
POOL = 8
DOMAIN = "mail.example-lexus-dealer.jp"
TEMPLATE = "reminder_shaken_1"  # the shipped 車検 notice (text + HTML, footer include)


class Counting:
    """The sink: counts and keeps every message (length-prefixed in a file, for the parse-back)."""

    def __init__(self, out: Path) -> None:
        self.out = out.open("ab")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        self.out.write(len(data).to_bytes(8, "big") + data)
        self.out.flush()
        return "250 OK"


def serve(port: int, out: Path) -> None:
    """Run the sink in its own process (a relay is not in the sender's process)."""
    controller = Controller(Counting(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    controller.stop()


def start_sink(port: int, out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def received(out: Path, offset: int) -> list[bytes]:
    raw = out.read_bytes()[offset:]
    msgs = []
    while raw:
        n = int.from_bytes(raw[:8], "big")
        msgs.append(raw[8 : 8 + n])
        raw = raw[8 + n :]
    return msgs


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def raw(port: int, data: list[bytes]) -> tuple[float, float]:
    """aiosmtplib alone over the same pool, sending the full path's own messages again."""
    transport = smtp.SmtpTransport(smtp.Relay("127.0.0.1", port, start_tls=False), POOL)
    sem = asyncio.Semaphore(POOL * 4)
    n = len(data)
    permit = fake.FakeGate(load_context(REPO / "config")).permit(
        1,
        decision.Request("p2", "email", frozenset({"name"}), advertising=False),
        FixedClock().now(),
    )

    async def one(i: int) -> None:
        async with sem:
            r = await transport.send(
                permit, f"bounce@{DOMAIN}", [f"user{i}@example.jp"], data[i % n]
            )
            assert r.ok, r

    await asyncio.gather(*(one(i) for i in range(POOL)))  # connect the pool first
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    await transport.close()
    return n / took, cpu / n * 1e6


def make_db(url: str | None, work: Path) -> str:
    if url is None:
        db = f"sqlite:///{work / 'bench.sqlite3'}"
        asyncio.run(migrate.upgrade(db))
        return db
    u = make_url(url)
    name = f"outreach_bench_send_{int(time.time())}"
    with psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    ) as c:
        c.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    db = u.set(database=name).render_as_string(hide_password=False)
    asyncio.run(migrate.upgrade(db))
    return db


def drop_db(db: str) -> None:
    if not db.startswith("postgresql"):
        return
    u = make_url(db)
    with psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname="postgres", autocommit=True
    ) as c:
        c.execute(f"DROP DATABASE IF EXISTS {u.database} WITH (FORCE)")  # type: ignore[arg-type]


async def seed(app: bootstrap.App, n: int, start: int) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with app.sessions() as s, s.begin():
        await s.execute(
            insert(Customer),
            [
                {
                    "id": i,
                    "external_id": f"C{i:07d}",
                    "name_kanji": f"髙橋 太郎{i}",
                    "email": f"user{i}@example.jp",
                    "opt_outs": [],
                    "consents": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, start + n)
            ],
        )
        await s.execute(
            insert(Vehicle),
            [
                {
                    "id": i,
                    "external_id": f"V{i:07d}",
                    "user_id": i,
                    "car_name": "LS500h",
                    "registration_number": f"品川 300 あ {i % 100:02d}-{i % 97:02d}",
                    "shaken_expiry_on": dt.date(2026, 3, 1) + dt.timedelta(days=i % 60),
                    "updated_at": now,
                }
                for i in range(start, start + n)
            ],
        )
        registry = purposes.load(REPO / "config" / "purposes.toml")
        tmpl = templates.load(REPO / "templates" / "mail", registry).get(TEMPLATE)
        items = tmpl.items_for("email")
        pairs = []
        # Permits from the package's fake gate, through the real rules (never made by hand).
        gate = fake.FakeGate(load_context(REPO / "config"))
        request = decision.Request("p2", "email", items, advertising=False, kind="shaken")
        for i in range(start, start + n):
            draft = outbox.Draft(
                idempotency_key=f"shaken:{i}:2026-03",
                customer_id=i,
                purpose="p2",
                category="service_notice",
                channel="email",
                kind="shaken",
                template=TEMPLATE,
                items=items,
                advertising=False,
                not_before=now,
                vehicle_id=i,
            )
            pairs.append((draft, gate.permit(i, request, now)))
        await outbox.enqueue(s, pairs, now=now)


def dkim_key(work: Path) -> str:
    path = work / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
    )
    return path.read_text()


async def full(
    port: int, n: int, db: str, work: Path, *, dkim: str | None, start: int
) -> tuple[float, float, float]:
    s = settings.Settings(
        data_dir=work / "data",
        database_url=db,
        config_dir=REPO / "config",
        dealer_file=REPO / "config" / "dealer.demo.toml",
        templates_dir=REPO / "templates",
        secret_key="bench-secret-key",  # type: ignore[arg-type]
        base_url="https://outreach.example.jp",
        transport="smtp",
        smtp_url=f"smtp://127.0.0.1:{port}",  # type: ignore[arg-type]
        smtp_pool_size=POOL,
        smtp_rate_per_second=1e9,
        smtp_rate_per_hour=10**12,
        dkim_selector="bench" if dkim else None,
        dkim_private_key=dkim,  # type: ignore[arg-type]
    )
    app = bootstrap.build(s, clock=FixedClock())  # Monday 09:00 JST: inside the email window
    try:
        await seed(app, n, start)
        w = service.build_worker(app, concurrency=POOL)  # batch: config/sending.toml
        t0, c0 = time.perf_counter(), time.process_time()
        report = await pipeline.drain(w, once=True)
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        await w.transport.close()
    finally:
        await app.close()
    sent = report.results.get("sent", 0)
    assert sent == n, pipeline.summary(report)
    return n / took, cpu / n * 1e6, report.window * 1000


def check(data: list[bytes], signed: bool) -> None:
    for raw_msg in data:
        msg = email.message_from_bytes(raw_msg, policy=email.policy.default)
        assert msg.defects == [], msg.defects
        assert "の車検満了日のお知らせ" in str(msg["Subject"])
        assert "髙橋 太郎" in str(msg["To"])
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
        assert ("DKIM-Signature" in msg) == signed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pg", metavar="URL", help="full path on PostgreSQL instead of SQLite")
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return
    n = 500 if args.quick else 4000
    n_dkim = 200 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    port = free_port()
    sink_file = work / "sink.bin"
    sink = start_sink(port, sink_file)
    db = make_db(args.pg, work)
    engine = "postgresql" if args.pg else "sqlite"
    try:
        mark = sink_file.stat().st_size
        full_rate, full_cpu, full_window = asyncio.run(full(port, n, db, work, dkim=None, start=1))
        got = received(sink_file, mark)
        assert len(got) == n, (len(got), n)
        check(got, signed=False)
        checked = len(got)
        size = sum(map(len, got)) / len(got)
        # The raw path re-sends exactly these messages: same sizes, same sink, same pool.
        raw_rate, raw_cpu = asyncio.run(raw(port, got))
        mark = sink_file.stat().st_size
        key = dkim_key(work)
        dkim_rate, dkim_cpu, _ = asyncio.run(full(port, n_dkim, db, work, dkim=key, start=n + 1))
        got = received(sink_file, mark)
        assert len(got) == n_dkim, (len(got), n_dkim)
        check(got, signed=True)
        checked += len(got)
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=10)
        drop_db(db)
        shutil.rmtree(work, ignore_errors=True)
    ratio = full_rate / raw_rate
    print(
        f"send: pool={POOL} messages={n} (DKIM {n_dkim}); every full-path message parsed "
        f"back ({checked}); db={engine}; {size:,.0f} bytes per message"
    )
    figure("send", "raw aiosmtplib, pool 8", raw_rate, "msg/s", n=n)
    figure("send", f"full path ({engine}), pool 8", full_rate, "msg/s", n=n)
    figure("send", "full path / raw", ratio * 100, "%", target=">=50%")
    figure("send", "crash window: longest 250 → commit", full_window, "ms", batch=BATCH)
    figure("send", f"full path + DKIM ({engine}), pool 8", dkim_rate, "msg/s", n=n_dkim)
    # Sender CPU per message (this process, its DB driver thread included): steadier than
    # msg/s on a shared machine, and what the full path adds to the raw client's cost.
    figure("send", "sender CPU per message, raw", raw_cpu, "µs")
    figure("send", f"sender CPU per message, full path ({engine})", full_cpu, "µs")
    figure("send", f"sender CPU per message, full + DKIM ({engine})", dkim_cpu, "µs")


if __name__ == "__main__":
    main()
