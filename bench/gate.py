"""Benchmark: the consent and purpose gate over N synthetic customers (issue 3).

    .venv/bin/python bench/gate.py [--quick] [--customers N] [--engine sqlite|pg|both]

Figures (per engine):
  - baseline: raw driver insert of the customers, and a raw driver select of exactly the
    columns the gate loads (the physical limit the gate is compared with);
  - audit: load + decide, no persistence (`gate audit` path)       target < 10 s for 1M (SQLite)
  - persist: load + decide + record every decision                   target < 30 s for 1M
  - pure core: decide() alone                                        target > 200,000 /s
  - peak RSS of this process.
Data lives in a temporary SQLite file and a temporary PostgreSQL database, both removed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from report import figure, peak_rss_mb  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from outreach.clock import JST  # noqa: E402
from outreach.db import engine as engine_mod  # noqa: E402
from outreach.db import migrate  # noqa: E402
from outreach.gate import audit, batch, context, rules  # noqa: E402
from outreach.gate.decision import Request  # noqa: E402

PG_ADMIN = os.environ.get("OUTREACH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)  # a Tuesday, 10:00 JST
CREATED = "2025-01-01 00:00:00.000000"
REQUEST = Request(
    purpose="p3",
    channel="email",
    items=frozenset({"name", "vehicle"}),
    advertising=True,
    kind="campaign",
    campaign_id=1,
)
PARTNER = "トヨタ自動車株式会社"


def customer_row(i: int) -> tuple[object, ...]:
    email = None if i % 10 == 0 else f"c{i}@example.jp"
    opt = '["category:marketing"]' if i % 13 == 0 else "[]"
    status = "deceased" if i % 97 == 0 else "active"
    acq, partner = ("joint_use", PARTNER) if i % 17 == 0 else ("direct", None)
    return (
        i,
        f"C{i:08d}",
        "山田太郎",
        "1000001",
        "東京都千代田区1-1",
        "03-0000-0000" if i % 4 else None,
        email,
        status,
        acq,
        partner,
        1 if i % 5 else 2,
        1 + i % 3,
        opt,
        i % 50 == 0,
        "[]",
        0,
        CREATED,
        CREATED,
    )


CUSTOMER_COLS = (
    "id, external_id, name_kanji, postal_code, address, phone, email, status, acquisition, "
    "joint_use_partner, notice_version, store_id, opt_outs, use_suspended, consents, ledger_seq, "
    "created_at, updated_at"
)


def basis_rows(n: int) -> list[tuple[object, ...]]:
    return [
        (i, i, f"c{i}@example.jp", "opt_in", CREATED, "web_form", "同意文面 v1", None)
        for i in range(1, n + 1)
        if i % 10 and i % 3
    ]


def suppression_rows(n: int) -> list[tuple[object, ...]]:
    return [
        (i, f"c{i}@example.jp", "hard_bounce", CREATED) for i in range(1, n + 1) if i % 101 == 0
    ]


STORES = [(1, "S01", "本店", "[2]"), (2, "S02", "世田谷店", "[3]"), (3, "S03", "練馬店", "[]")]


def state_sql(dialect: object) -> str:
    stmt = batch._state_query().order_by(batch._c.id)
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


# --- SQLite ---------------------------------------------------------------------------------


def fill_sqlite(path: Path, n: int) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executemany(
        "INSERT INTO stores (id, code, name, closing_weekdays) VALUES (?,?,?,?)", STORES
    )
    t0 = time.perf_counter()
    step = 50_000
    for lo in range(1, n + 1, step):
        rows = [customer_row(i) for i in range(lo, min(n + 1, lo + step))]
        con.executemany(
            f"INSERT INTO customers ({CUSTOMER_COLS}) VALUES ({','.join('?' * 18)})", rows
        )
    con.commit()
    took = time.perf_counter() - t0
    con.executemany(
        "INSERT INTO email_bases (id, customer_id, email, basis, evidence_at, evidence_method, "
        "evidence_text, evidence_ref) VALUES (?,?,?,?,?,?,?,?)",
        basis_rows(n),
    )
    con.executemany(
        "INSERT INTO suppressions (id, email, reason, created_at) VALUES (?,?,?,?)",
        suppression_rows(n),
    )
    con.commit()
    con.close()
    return took


def select_sqlite(path: Path) -> tuple[int, float]:
    con = sqlite3.connect(path)
    t0 = time.perf_counter()
    cur = con.execute(state_sql(sqlite.dialect()))
    count = 0
    while rows := cur.fetchmany(20_000):
        count += len(rows)
    took = time.perf_counter() - t0
    con.close()
    return count, took


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(PG_ADMIN)
    return psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        dbname=dbname or u.database,
        autocommit=True,
    )


def fill_pg(dbname: str, n: int) -> float:
    with _pg(dbname) as con:
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO stores (id, code, name, closing_weekdays) VALUES (%s,%s,%s,%s)",
                STORES,
            )
        t0 = time.perf_counter()
        with con.cursor() as cur, cur.copy(f"COPY customers ({CUSTOMER_COLS}) FROM STDIN") as cp:
            for i in range(1, n + 1):
                cp.write_row(customer_row(i))
        took = time.perf_counter() - t0
        with con.cursor() as cur:
            with cur.copy(
                "COPY email_bases (id, customer_id, email, basis, evidence_at, evidence_method, "
                "evidence_text, evidence_ref) FROM STDIN"
            ) as cp:
                for r in basis_rows(n):
                    cp.write_row(r)
            with cur.copy("COPY suppressions (id, email, reason, created_at) FROM STDIN") as cp:
                for r in suppression_rows(n):
                    cp.write_row(r)
            cur.execute("ANALYZE")
    return took


def select_pg(dbname: str) -> tuple[int, float]:
    with _pg(dbname) as con:
        t0 = time.perf_counter()
        count = 0
        with con.transaction(), con.cursor(name="bench") as cur:
            cur.itersize = 20_000
            cur.execute(state_sql(postgresql.dialect()))
            while rows := cur.fetchmany(20_000):
                count += len(rows)
        return count, time.perf_counter() - t0


# --- the gate -------------------------------------------------------------------------------


async def gate_runs(url: str, ctx: context.GateContext, n: int) -> dict[str, float]:
    eng = engine_mod.make_engine(url)
    sessions = engine_mod.sessionmaker(eng)
    out: dict[str, float] = {}
    try:
        async with sessions() as session:
            t0, c0 = time.perf_counter(), time.process_time()
            tally = await audit.audit(session, ctx, REQUEST, NOW)
            out["audit_s"] = time.perf_counter() - t0
            out["audit_cpu"] = time.process_time() - c0
            out["allowed"] = tally.allowed
            assert tally.total == n, (tally.total, n)
        async with sessions() as session:
            t0, c0 = time.perf_counter(), time.process_time()
            tally = await audit.audit(session, ctx, REQUEST, NOW, persist=True, run_id=1)
            out["persist_s"] = time.perf_counter() - t0
            out["persist_cpu"] = time.process_time() - c0
    finally:
        await eng.dispose()
    return out


def pure_core(ctx: context.GateContext, n: int) -> float:
    from outreach.gate.state import CustomerState

    states = [
        CustomerState(
            i,
            email=f"c{i}@example.jp",
            email_basis="opt_in" if i % 3 else None,
            has_postal=True,
            has_phone=True,
            opt_outs=frozenset({"category:marketing"}) if i % 13 == 0 else frozenset(),
            closing_weekdays=frozenset({2}),
        )
        for i in range(n)
    ]
    decide = rules.decide
    with batch.gc_paused():  # as on the batch path
        t0 = time.perf_counter()
        for s in states:
            decide(ctx, s, REQUEST, NOW)
        took = time.perf_counter() - t0
    return n / took


def report(
    engine: str, n: int, insert_s: float, sel: tuple[int, float], g: dict[str, float]
) -> None:
    figure("gate", f"{engine}: raw insert customers (baseline)", n / insert_s, "rows/s", n=n)
    figure("gate", f"{engine}: raw select gate columns (baseline)", sel[0] / sel[1], "rows/s", n=n)
    figure(
        "gate",
        f"{engine}: audit load+decide",
        n / g["audit_s"],
        "decisions/s",
        n=n,
        seconds=round(g["audit_s"], 2),
        cpu_s=round(g["audit_cpu"], 2),
        load=round(os.getloadavg()[0], 1),
        target="<10s@1M" if engine == "sqlite" else "-",
    )
    figure(
        "gate",
        f"{engine}: load+decide+persist",
        n / g["persist_s"],
        "decisions/s",
        n=n,
        seconds=round(g["persist_s"], 2),
        cpu_s=round(g["persist_cpu"], 2),
        load=round(os.getloadavg()[0], 1),
        target="<30s@1M",
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20,000 customers")
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--engine", choices=("sqlite", "pg", "both"), default="both")
    args = ap.parse_args()
    n = args.customers or (20_000 if args.quick else 1_000_000)
    ctx = context.load_context(HERE.parent / "config")

    figure(
        "gate",
        "pure core decide()",
        pure_core(ctx, min(n, 300_000)),
        "decisions/s",
        target=">200000",
    )

    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.sqlite3"
            asyncio.run(migrate.upgrade(f"sqlite:///{path}"))
            insert_s = fill_sqlite(path, n)
            sel = select_sqlite(path)
            g = asyncio.run(gate_runs(f"sqlite:///{path}", ctx, n))
            report("sqlite", n, insert_s, sel, g)

    if args.engine in ("pg", "both"):
        name = f"outreach_bench_{uuid.uuid4().hex[:8]}"
        with _pg() as admin:
            admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        try:
            from sqlalchemy.engine import make_url

            url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
            asyncio.run(migrate.upgrade(url))
            insert_s = fill_pg(name, n)
            sel = select_pg(name)
            g = asyncio.run(gate_runs(url, ctx, n))
            report("pg", n, insert_s, sel, g)
        finally:
            with _pg() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]

    figure("gate", "peak RSS", peak_rss_mb(), "MB", n=n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
