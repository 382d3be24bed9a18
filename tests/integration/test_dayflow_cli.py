"""The dealer's day on the command line, as real subprocesses on both databases: a future
`run-daily --date` refused unless dry, the bookings import with its error report, the call
list, the print batches and the conversion report (--json)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dailykit as kit
from conftest import cli_env

from outreach import bootstrap, daily
from outreach.clock import JST, FixedClock

OUTREACH = str(Path(sys.executable).with_name("outreach"))
DAY = dt.date(2026, 4, 30)  # shaken stage 2 for expiry 6/30


def run(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args],
        env=cli_env(db_url, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_run_daily_refuses_a_future_date_unless_dry(db_url: str, tmp_path: Path) -> None:
    assert run(db_url, tmp_path, "init").returncode == 0
    tomorrow = (dt.datetime.now(JST).date() + dt.timedelta(days=1)).isoformat()
    r = run(db_url, tmp_path, "run-daily", "--date", tomorrow)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--dry-run" in r.stderr and "Traceback" not in r.stderr
    r = run(db_url, tmp_path, "run-daily", "--date", tomorrow, "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dry_run"] is True
    r = run(db_url, tmp_path, "runs", "--json")
    assert all(x["dry_run"] for x in json.loads(r.stdout))  # nothing real ran ahead


async def test_bookings_calls_letters_and_conversion(
    app: bootstrap.App, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    async with app.sessions() as s, s.begin():
        for n in (1, 2):
            c = await kit.customer(s, n, email=False, phone=n == 2, post=n == 1)
            await kit.vehicle(s, n, c, shaken_expiry_on=dt.date(2026, 6, 30))
    clock.at = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=JST)
    await daily.run(app, DAY)

    r = run(db_url, tmp_path, "calls", "--date", "2026-04-30", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert (listed["count"], listed["calls"][0]["call_on"]) == (1, "2026-04-30")
    assert "phone" not in json.dumps(listed)  # no phone number on a terminal's scrollback

    r = run(db_url, tmp_path, "letters", "list", "--json")
    [batch] = json.loads(r.stdout)
    assert (batch["batch"], batch["letters"], batch["waiting"]) == ("2026-04-30", 1, 1)
    assert batch["pdf"].endswith("print/2026-04-30.pdf")
    r = run(db_url, tmp_path, "letters", "printed", "2026-04-30", "--by", "post-room")
    assert r.returncode == 0 and "1 通" in r.stdout
    again = run(db_url, tmp_path, "letters", "printed", "2026-04-30", "--by", "post-room")
    assert again.returncode == 1 and again.stderr.count("\n") == 1

    bookings = tmp_path / "b.csv"  # the visit: after the letter went to print (real time)
    visit = (dt.datetime.now(JST).date() + dt.timedelta(days=10)).strftime("%Y/%m/%d")
    lines = ["予約番号,車両管理番号,入庫予定日", f"B1,V00001,{visit}", "B2,V00002,2026/02/30"]
    bookings.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    report = tmp_path / "errors.csv"
    r = run(db_url, tmp_path, "import", "bookings", str(bookings), "--errors", str(report))
    assert r.returncode == 1, r.stderr  # one row rejected: partial, like a customer file
    assert "却下 1 行" in r.stderr and "3行目" in r.stderr
    assert "入庫予定日" in report.read_text(encoding="utf-8-sig")
    r = run(db_url, tmp_path, "import", "bookings", str(bookings), "--json")
    assert json.loads(r.stdout)["unchanged"] == 1  # a re-import changes nothing

    r = run(db_url, tmp_path, "conversion", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [(x["channel"], x["reminded"], x["booked"]) for x in data["rows"]] == [("post", 1, 1)]
