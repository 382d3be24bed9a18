"""Benchmark: the daily reminder run for one date (issue 4).

    .venv/bin/python bench/daily.py [--quick] [--vehicles N] [--engine sqlite|pg|both]

Synthetic data: N customers, N vehicles (one user each) and N insurance policies (half 自賠責
tied to the vehicle, half 任意保険), dates spread so that about 1 in 50 vehicles and policies
has a reminder stage on the run date. Generated with the drivers' fast bulk paths
(executemany in 50k batches on SQLite, COPY on PostgreSQL); generation is not timed.

Figures (per engine):
  - baseline: the raw indexed date-range selects of the same due rows through the sync
    driver (the physical floor the run is compared with);
  - end to end: `daily.run` (config, select, candidates, gate decide + record, outbox enqueue,
    flags, print/call CSVs, run summary)                         target < 15 s for 1M + 1M
  - peak RSS of this process                                      target < 1 GB
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
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

from outreach import bootstrap, daily, settings  # noqa: E402
from outreach.candidates import ranges, rules  # noqa: E402
from outreach.candidates.facts import Window  # noqa: E402
from outreach.clock import JST, FixedClock  # noqa: E402
from outreach.db import migrate  # noqa: E402

PG_ADMIN = os.environ.get("OUTREACH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = HERE.parent
DAY = dt.date(2026, 5, 13)  # a Wednesday after a business day: no weekend catch-up
SPREAD_VEHICLES = 150  # 3 shaken stages over 150 days of expiries → 1 in 50 due
SPREAD_POLICIES = 75  # 1 自賠責 stage / 2 任意保険 stages over 75 days → about 1 in 50
CREATED = "2025-01-01 00:00:00.000000"
FIRST_EXPIRY = dt.date(2026, 5, 20)


def customer_row(i: int) -> tuple[object, ...]:
    email = None if i % 10 == 0 else f"c{i}@example.jp"
    return (
        i,
        f"C{i:08d}",
        "山田 太郎",
        "1000001",
        "東京都",
        "千代田区",
        "丸の内1-1",
        "03-0000-0000" if i % 4 else None,
        email,
        "active",
        "direct",
        2,
        "[]",
        False,
        "[]",
        0,
        CREATED,
        CREATED,
    )


CUSTOMER_COLS = (
    "id, external_id, name_kanji, postal_code, prefecture, city, address, phone, email, status, "
    "acquisition, notice_version, opt_outs, use_suspended, consents, ledger_seq, created_at, "
    "updated_at"
)


def vehicle_row(i: int) -> tuple[object, ...]:
    expiry = FIRST_EXPIRY + dt.timedelta(days=i % SPREAD_VEHICLES)
    last = dt.date(expiry.year - 1, expiry.month, min(expiry.day, 28))
    return (
        i,
        f"V{i:08d}",
        i,
        "lease" if i % 7 == 0 else "user",
        "レクサス RX",
        f"品川 300 あ {i % 10000:04d}",
        expiry.isoformat(),
        last.isoformat(),
        "sold" if i % 41 == 0 else "owned",
        CREATED,
    )


VEHICLE_COLS = (
    "id, external_id, user_id, owner_kind, car_name, registration_number, shaken_expiry_on, "
    "last_inspection_on, status, updated_at"
)


def policy_row(i: int) -> tuple[object, ...]:
    expires = FIRST_EXPIRY + dt.timedelta(days=(i * 7) % SPREAD_POLICIES)
    jibaiseki = i % 2 == 0
    at = f"{expires.isoformat()} {'03' if jibaiseki else '07'}:00:00.000000"  # 12:00/16:00 JST
    return (
        i,
        f"P{i:08d}",
        i if jibaiseki else None,
        i,
        "tokio_marine",
        "jibaiseki" if jibaiseki else "nini",
        at,
        expires.isoformat(),
        False,
        CREATED,
    )


POLICY_COLS = (
    "id, external_id, vehicle_id, customer_id, insurer, kind, expires_at, expires_on, "
    "held_as_processor, updated_at"
)


def basis_rows(lo: int, hi: int) -> list[tuple[object, ...]]:
    return [
        (i, i, f"c{i}@example.jp", "opt_in", CREATED, "web_form", "同意文面 v1")
        for i in range(lo, hi)
        if i % 10
    ]


BASIS_COLS = "id, customer_id, email, basis, evidence_at, evidence_method, evidence_text"

TABLES = (
    ("customers", CUSTOMER_COLS, customer_row),
    ("vehicles", VEHICLE_COLS, vehicle_row),
    ("insurance_policies", POLICY_COLS, policy_row),
)


# --- data -------------------------------------------------------------------------------------


def fill_sqlite(path: Path, n: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    step = 50_000
    for table, cols, make in TABLES:
        marks = ",".join("?" * len(cols.split(",")))
        for lo in range(1, n + 1, step):
            rows = [make(i) for i in range(lo, min(n + 1, lo + step))]
            con.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
    for lo in range(1, n + 1, step):
        con.executemany(
            f"INSERT INTO email_bases ({BASIS_COLS}) VALUES (?,?,?,?,?,?,?)",
            basis_rows(lo, min(n + 1, lo + step)),
        )
    con.commit()
    con.execute("ANALYZE")
    con.close()


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


def fill_pg(dbname: str, n: int) -> None:
    with _pg(dbname) as con, con.cursor() as cur:
        for table, cols, make in TABLES:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for i in range(1, n + 1):
                    cp.write_row(make(i))
        with cur.copy(f"COPY email_bases ({BASIS_COLS}) FROM STDIN") as cp:
            for r in basis_rows(1, n + 1):
                cp.write_row(r)
        for table in ("customers", "vehicles", "insurance_policies", "email_bases"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        cur.execute("ANALYZE")


# --- baseline: the raw indexed selects --------------------------------------------------------


def baseline_sql(r: rules.Rules) -> list[str]:
    """The same date-range selects the run issues, as plain SQL."""
    w = Window(after=DAY - dt.timedelta(days=1), through=DAY)

    def where(col: str, rs: list[ranges.Range]) -> str:
        return " OR ".join(f"{col} BETWEEN '{lo}' AND '{hi}'" for lo, hi in rs)

    out = []
    shaken = ranges.due_ranges(
        r.kinds["shaken"], w, booking_window_months=r.booking_window_months, calendar=r.calendar
    )
    out.append(
        "SELECT id, user_id, status, first_registered_on, shaken_expiry_on, last_inspection_on, "
        f"booked_on, owner_kind FROM vehicles WHERE ({where('shaken_expiry_on', shaken)})"
    )
    insp = ranges.shift(
        ranges.due_ranges(
            r.kinds["inspection"], w, booking_window_months=None, calendar=r.calendar
        ),
        -12,
    )
    out.append(
        "SELECT id, user_id, status, first_registered_on, shaken_expiry_on, last_inspection_on, "
        f"booked_on, owner_kind FROM vehicles WHERE ({where('last_inspection_on', insp)}) "
        f"OR ({where('first_registered_on', insp)})"
    )
    for kind in ("jibaiseki", "nini"):
        rs = ranges.due_ranges(r.kinds[kind], w, booking_window_months=None, calendar=r.calendar)
        out.append(
            "SELECT id, kind, customer_id, expires_on, insurer, vehicle_id, starts_at "
            f"FROM insurance_policies WHERE kind = '{kind}' AND ({where('expires_on', rs)})"
        )
    return out


def baseline(run_sql: object, r: rules.Rules) -> tuple[int, float]:
    t0 = time.perf_counter()
    rows = 0
    for sql in baseline_sql(r):
        rows += run_sql(sql)  # type: ignore[operator]
    return rows, time.perf_counter() - t0


def sqlite_select(path: Path) -> object:
    def go(sql: str) -> int:
        con = sqlite3.connect(path)
        try:
            cur = con.execute(sql)
            n = 0
            while part := cur.fetchmany(10_000):
                n += len(part)
            return n
        finally:
            con.close()

    return go


def pg_select(dbname: str) -> object:
    def go(sql: str) -> int:
        with _pg(dbname) as con, con.cursor() as cur:
            cur.execute(sql)
            return len(cur.fetchall())

    return go


# --- the run ----------------------------------------------------------------------------------


async def timed_run(url: str, data_dir: Path) -> tuple[daily.Summary, float]:
    s = settings.Settings(
        data_dir=data_dir,
        database_url=url,
        config_dir=REPO / "config",
        secret_key="bench-secret",  # type: ignore[arg-type]
    )
    clock = FixedClock(dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=JST))
    app = bootstrap.build(s, clock=clock)
    try:
        t0 = time.perf_counter()
        summary = await daily.run(app, DAY)
        return summary, time.perf_counter() - t0
    finally:
        await app.close()


def report(
    engine: str, n: int, base: tuple[int, float], summary: daily.Summary, took: float
) -> None:
    rows, secs = base
    figure("daily", f"{engine}: baseline indexed selects", secs, "s", rows=rows, n=n)
    figure(
        "daily",
        f"{engine}: end to end (1 date)",
        took,
        "s",
        n=n,
        candidates=summary.candidates,
        queued=summary.queued,
        denied=summary.denied,
        target="<15s@1M",
    )
    figure("daily", f"{engine}: peak RSS", peak_rss_mb(), "MB", target="<1024")


def _since(t0: float) -> str:
    return f"{time.perf_counter() - t0:.1f} s"


def bench_sqlite(n: int, tmp: Path, r: rules.Rules) -> None:
    path = tmp / "daily.sqlite3"
    url = f"sqlite:///{path}"
    asyncio.run(migrate.upgrade(url))
    t0 = time.perf_counter()
    fill_sqlite(path, n)
    print(f"   sqlite: generated {n:,} customers, vehicles and policies in {_since(t0)}")
    base = baseline(sqlite_select(path), r)
    summary, took = asyncio.run(timed_run(url, tmp / "data-sqlite"))
    report("sqlite", n, base, summary, took)


def bench_pg(n: int, tmp: Path, r: rules.Rules) -> None:
    from sqlalchemy.engine import make_url

    name = f"outreach_bench_daily_{uuid.uuid4().hex[:8]}"
    with _pg() as con:
        con.execute(f"CREATE DATABASE {name}")
    try:
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        asyncio.run(migrate.upgrade(url))
        t0 = time.perf_counter()
        fill_pg(name, n)
        print(f"   pg: generated {n:,} customers, vehicles and policies in {_since(t0)}")
        base = baseline(pg_select(name), r)
        summary, took = asyncio.run(timed_run(url, tmp / "data-pg"))
        report("pg", n, base, summary, took)
    finally:
        with _pg() as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100,000 instead of 1,000,000")
    p.add_argument("--vehicles", type=int, default=None)
    p.add_argument("--engine", choices=["sqlite", "pg", "both"], default="both")
    a = p.parse_args(argv)
    n = a.vehicles or (100_000 if a.quick else 1_000_000)
    r = rules.load(REPO / "config" / "reminders.toml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    try:
        if a.engine in ("sqlite", "both"):
            bench_sqlite(n, tmp, r)
        if a.engine in ("pg", "both"):
            bench_pg(n, tmp, r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
