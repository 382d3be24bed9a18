"""Benchmark: a campaign preview over N synthetic customers on SQLite (issue 7).

    .venv/bin/python bench/preview.py [--quick] [--customers N]

The preview is what staff wait for before approving: audience size, allowed count and the
count for every gate reason (the gate's batch path), plus three rendered samples.
Figures:
  - baseline: a raw driver count of the same audience (the SQL alone, no gate), and the
    gate's own `gate audit` over every customer with no audience filter;
  - preview with a filter (car name RX/NX in 東京都, about 20 % of customers);
  - preview of everyone who drives a car (the template talks about the car);
                                                          target < 10 s for 1,000,000
  - peak RSS.
Data lives in a temporary SQLite file, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from report import figure, peak_rss_mb  # noqa: E402

from outreach.clock import JST  # noqa: E402
from outreach.db import engine as engine_mod  # noqa: E402
from outreach.db import migrate  # noqa: E402
from outreach.db.models import Campaign  # noqa: E402
from outreach.gate import audit as gate_audit  # noqa: E402
from outreach.gate.context import load_context  # noqa: E402
from outreach.gate.decision import Request  # noqa: E402
from outreach.staff import preview  # noqa: E402
from outreach.staff import rules as rules_mod  # noqa: E402

REPO = HERE.parent
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)  # a Tuesday, 10:00 JST
TS = "2025-01-01 00:00:00.000000"
CARS = ("RX", "NX", "LS", "UX", "ES", "LX")
PREFS = ("東京都", "東京都", "東京都", "神奈川県", "埼玉県")
FOOTER = '{% include "_base/footer.txt" %}'


def fill(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    step = 50_000
    for lo in range(1, n + 1, step):
        ids = range(lo, min(lo + step, n + 1))
        con.executemany(
            "INSERT INTO customers (id, external_id, name_kanji, postal_code, prefecture, city,"
            " address, phone, email, status, acquisition, notice_version, opt_outs,"
            " use_suspended, consents, ledger_seq, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    i,
                    f"C{i:08d}",
                    "山田太郎",
                    "1000001",
                    PREFS[i % 5],
                    "千代田区",
                    "1-1",
                    "03-0000-0000",
                    None if i % 10 == 0 else f"c{i}@example.jp",
                    "deceased" if i % 97 == 0 else "active",
                    "direct",
                    1,
                    '["category:marketing"]' if i % 13 == 0 else "[]",
                    i % 50 == 0,
                    "[]",
                    0,
                    TS,
                    TS,
                )
                for i in ids
            ],
        )
        con.executemany(
            "INSERT INTO vehicles (id, external_id, user_id, owner_kind, car_name, model_code,"
            " status, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    i,
                    f"V{i:08d}",
                    i,
                    "user",
                    CARS[i % 6],
                    "AALH16",
                    "sold" if i % 20 == 0 else "owned",
                    TS,
                )
                for i in ids
            ],
        )
        con.executemany(
            "INSERT INTO email_bases (customer_id, email, basis, evidence_at, evidence_method,"
            " evidence_text) VALUES (?,?,?,?,?,?)",
            [
                (i, f"c{i}@example.jp", "opt_in", TS, "web_form", "ご案内メールを受け取る")
                for i in ids
                if i % 10 and i % 7
            ],
        )
        con.commit()
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - t0


def raw_count(path: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    (count,) = con.execute(
        "SELECT count(*) FROM customers WHERE prefecture = '東京都' AND id IN "
        "(SELECT user_id FROM vehicles WHERE status = 'owned' AND car_name IN ('RX','NX'))"
    ).fetchone()
    con.close()
    return count, time.perf_counter() - t0


async def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        url = f"sqlite:///{path}"
        await migrate.upgrade(url)
        secs = fill(path, n)
        figure("preview", "fill (customers+vehicles+bases)", n / secs, "rows/s", n=n)

        count, secs = raw_count(path)
        figure("preview", "baseline: raw SQL audience count", secs, "s", n=n, audience=count)

        engine = engine_mod.make_engine(url)
        sessions = engine_mod.sessionmaker(engine)
        ctx = load_context(REPO / "config")
        rules = rules_mod.load(REPO / "config")
        kit = preview.kit(REPO / "templates", REPO / "config", "https://dealer.example.jp")
        req = Request(
            purpose="p3",
            channel="email",
            items=frozenset({"name", "vehicle"}),
            advertising=True,
            kind="campaign",
            campaign_id=1,
        )
        async with sessions() as s:
            t0 = time.perf_counter()
            tally = await gate_audit.audit(s, ctx, req, NOW)
            secs = time.perf_counter() - t0
        figure(
            "preview", "baseline: gate audit, all customers", secs, "s", n=n, allowed=tally.allowed
        )

        text = "{{ customer.name_kanji }}様\n{{ vehicle.car_name }}オーナー様へ\n" + FOOTER
        filtered = [
            {"field": "vehicle.car_name", "op": "in", "value": ["RX", "NX"]},
            {"field": "customer.prefecture", "op": "eq", "value": "東京都"},
        ]
        for label, conditions in (
            ("preview: RX/NX in 東京都", filtered),
            ("preview: every car owner", []),
        ):
            async with sessions() as s, s.begin():
                c = Campaign(
                    name="bench",
                    purpose="p3",
                    category="marketing",
                    channels=["email"],
                    audience={"all": conditions},
                    subject_template="{{ customer.name_kanji }}様",
                    text_template=text,
                    html_template="",
                    advertising=True,
                    created_by="bench",
                    created_at=NOW,
                    updated_at=NOW,
                )
                s.add(c)
                await s.flush()
                t0 = time.perf_counter()
                p = await preview.preview(s, ctx, c, rules, now=NOW, actor="bench", sample_kit=kit)
                secs = time.perf_counter() - t0
            [ch] = p.channels
            figure(
                "preview",
                label,
                secs,
                "s",
                n=n,
                audience=ch.audience,
                allowed=ch.allowed,
                samples=len(p.samples),
                target="<10s" if n >= 1_000_000 else "-",
            )
        await engine.dispose()
    figure("preview", "peak RSS", peak_rss_mb(), "MB", n=n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20,000 customers")
    ap.add_argument("--customers", type=int, default=1_000_000)
    args = ap.parse_args()
    asyncio.run(run(20_000 if args.quick else args.customers))


if __name__ == "__main__":
    main()
