"""Benchmark: `outreach demo-data` streaming N customers (issue 2, item 5).

    .venv/bin/python bench/demo_data.py [--quick] [--customers N] [--engine sqlite|pg|both]

Per engine (a fresh SQLite file; a fresh PostgreSQL database when one is reachable):
  - demo-data: the real CLI in a child process; rows/s over every table it writes, and the
    child's peak RSS (os.wait4's rusage of that child alone)        target: 1M < 500 MB
  - baseline: raw batched driver inserts (sqlite3.executemany / psycopg executemany, 1,000 rows
    a batch, one commit per batch) of the same generator's rows into another fresh database of
    the same engine; generation excluded from its time. Measured on up to 200,000 customers.
Default N = 1,000,000 customers (≈ 5 M rows); --quick: 50,000. Databases are removed after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from report import figure  # noqa: E402

from outreach import demo as demo_data  # noqa: E402
from outreach.db import migrate  # noqa: E402

TODAY = dt.date(2026, 1, 5)
PG_ADMIN = os.environ.get("OUTREACH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
OUTREACH = str(Path(sys.executable).with_name("outreach"))
BASELINE_MAX = 200_000


def run_cli(url: str, customers: int, seed: int, data_dir: Path) -> tuple[dict[str, Any], float]:
    """demo-data in a child process; its JSON summary and its own peak RSS in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env |= {
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_DATA_DIR": str(data_dir),
        "OUTREACH_SECRET_KEY": "bench-only",
        "OUTREACH_CONFIG_DIR": str(HERE.parent / "config"),
    }
    args = [OUTREACH, "demo-data", "--customers", str(customers), "--seed", str(seed)]
    args += ["--today", TODAY.isoformat(), "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"demo-data failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        return json.loads(out.read()), usage.ru_maxrss / 1024


# --- raw baseline ---------------------------------------------------------------------------


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return v


def _batches(customers: int, seed: int, start: demo_data.Start) -> Any:
    return demo_data.Generator(seed, TODAY, start).batches(customers, demo_data.BATCH)


def _start(store_ids: tuple[int, ...]) -> demo_data.Start:
    return demo_data.Start(ids={name: 1 for name, _ in demo_data.TABLES}, store_ids=store_ids)


def baseline_sqlite(path: Path, customers: int, seed: int) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    stores = _stores_sqlite(conn)
    rows = 0
    spent = 0.0
    for batch in _batches(customers, seed, _start(stores)):
        prepared = []
        for name, _ in demo_data.TABLES:
            table = batch[name]
            if table:
                cols = list(table[0])
                sql = (
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                )
                prepared.append((sql, [tuple(_sqlite_value(r[c]) for c in cols) for r in table]))
        t0 = time.perf_counter()
        for sql, values in prepared:
            for i in range(0, len(values), 1000):
                conn.executemany(sql, values[i : i + 1000])
                rows += len(values[i : i + 1000])
        conn.commit()
        spent += time.perf_counter() - t0
    conn.close()
    return rows, spent


def _stores_sqlite(conn: sqlite3.Connection) -> tuple[int, ...]:
    for i, (code, name, phone, addr, closing) in enumerate(demo_data.L.STORES, 1):
        conn.execute(
            "INSERT INTO stores (id, code, name, phone, address, closing_weekdays) "
            "VALUES (?,?,?,?,?,?)",
            (i, code, name, phone, addr, json.dumps(closing)),
        )
    conn.commit()
    return tuple(range(1, len(demo_data.L.STORES) + 1))


def baseline_pg(url: str, customers: int, seed: int) -> tuple[int, float]:
    import psycopg
    from psycopg.types.json import Json

    rows = 0
    spent = 0.0
    with psycopg.connect(url) as conn:
        for i, (code, name, phone, addr, closing) in enumerate(demo_data.L.STORES, 1):
            conn.execute(
                "INSERT INTO stores (id, code, name, phone, address, closing_weekdays) "
                "VALUES (%s,%s,%s,%s,%s,%s)",
                (i, code, name, phone, addr, Json(closing)),
            )
        conn.commit()
        stores = tuple(range(1, len(demo_data.L.STORES) + 1))
        for batch in _batches(customers, seed, _start(stores)):
            prepared = []
            for name, _ in demo_data.TABLES:
                table = batch[name]
                if table:
                    cols = list(table[0])
                    sql = (
                        f"INSERT INTO {name} ({', '.join(cols)}) "
                        f"VALUES ({', '.join(['%s'] * len(cols))})"
                    )
                    values = [
                        tuple(Json(r[c]) if isinstance(r[c], dict | list) else r[c] for c in cols)
                        for r in table
                    ]
                    prepared.append((sql, values))
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                for sql, values in prepared:
                    for i in range(0, len(values), 1000):
                        cur.executemany(sql, values[i : i + 1000])
                        rows += len(values[i : i + 1000])
            conn.commit()
            spent += time.perf_counter() - t0
    return rows, spent


# --- databases ------------------------------------------------------------------------------


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def pg_reachable() -> bool:
    try:
        _pg_admin("SELECT 1")
    except Exception:
        return False
    return True


def fresh_pg() -> str:
    name = f"bench_demo_{uuid.uuid4().hex[:10]}"
    _pg_admin(f"CREATE DATABASE {name}")
    return name


def bench_engine(engine: str, customers: int, seed: int, tmp: Path) -> None:
    base_n = min(customers, BASELINE_MAX)
    created: list[str] = []
    try:
        if engine == "sqlite":
            url = f"sqlite:///{tmp / 'demo.sqlite3'}"
            base_path = tmp / "baseline.sqlite3"
            import asyncio

            asyncio.run(migrate.upgrade(url))
            asyncio.run(migrate.upgrade(f"sqlite:///{base_path}"))
        else:
            import asyncio

            db, base_db = fresh_pg(), fresh_pg()
            created += [db, base_db]
            url = _pg_url(db)
            asyncio.run(migrate.upgrade(url))
            asyncio.run(migrate.upgrade(_pg_url(base_db)))
        summary, rss = run_cli(url, customers, seed, tmp / "data")
        total, secs = summary["total_rows"], summary["seconds"]
        if engine == "sqlite":
            b_rows, b_secs = baseline_sqlite(base_path, base_n, seed)
        else:
            b_rows, b_secs = baseline_pg(_pg_url(base_db).replace("+psycopg", ""), base_n, seed)
        rate, b_rate = total / secs, b_rows / b_secs
        note = {"engine": engine, "customers": customers}
        figure("demo_data", f"{engine}: demo-data rows/s", rate, "rows/s", rows=total, **note)
        figure("demo_data", f"{engine}: demo-data customers/s", customers / secs, "cust/s", **note)
        figure("demo_data", f"{engine}: demo-data wall time", secs, "s", **note)
        figure(
            "demo_data", f"{engine}: demo-data peak RSS (child)", rss, "MB", target="<500", **note
        )
        figure(
            "demo_data",
            f"{engine}: baseline raw batched insert rows/s",
            b_rate,
            "rows/s",
            rows=b_rows,
            engine=engine,
            customers=base_n,
        )
        figure(
            "demo_data", f"{engine}: demo-data / baseline", rate / b_rate, "ratio", engine=engine
        )
    finally:
        for name in created:
            _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 customers")
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", choices=["sqlite", "pg", "both"], default="both")
    a = ap.parse_args()
    customers = a.customers or (50_000 if a.quick else 1_000_000)
    engines = ["sqlite", "pg"] if a.engine == "both" else [a.engine]
    if "pg" in engines and not pg_reachable():
        print(f"PostgreSQL not reachable at {PG_ADMIN}: skipped", file=sys.stderr)
        engines.remove("pg")
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            bench_engine(engine, customers, a.seed, Path(tmp))


if __name__ == "__main__":
    main()
