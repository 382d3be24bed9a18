"""The fault suite's table: runs tests/e2e/test_faults.py (PostgreSQL, real processes, a real
relay) and prints one row per scenario: trials, faults, messages, sent, waiting, lost,
duplicates, the longest recovery, and `consent verify` problems.

    .venv/bin/python bench/faults.py            # run the suite, then print the table
    .venv/bin/python bench/faults.py --table    # only print the last run's table
    .venv/bin/python bench/faults.py --quick    # (bench/run.py) only print the last table

"sent" counts messages the relay (or the capture folder, or the print files) holds exactly
as the outbox says; "waiting" those queued with a reason at the end (for run-daily: the
reminders it queued, waiting for the worker, which that scenario does not run); "lost"
anything else; "duplicates" extra copies the relay received (docs/delivery.md: only a batch
in flight at a kill); "faults" the faults injected (for the full disk: the messages that
met it); "recovery s" the longest time from a fault until the service answered again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TABLE = REPO / "tests" / "artifacts" / "faults.json"
COLUMNS = ("trials", "faults", "messages", "sent", "waiting", "lost", "duplicates")


def table() -> int:
    if not TABLE.exists():
        print("no fault run recorded yet: run bench/faults.py")
        return 0
    rows = json.loads(TABLE.read_text())
    head = f"{'scenario':<46}" + "".join(f"{c:>11}" for c in COLUMNS)
    print(head + f"{'recovery s':>12}{'verify':>8}")
    print("-" * (len(head) + 20))
    for r in rows:
        cells = "".join(f"{r[c]:>11}" for c in COLUMNS)
        print(f"{r['scenario']:<46}{cells}{r['recovery_s']:>12}{r['verify_problems']:>8}")
    return 0


def main(argv: list[str]) -> int:
    if "--table" in argv or "--quick" in argv:
        return table()
    py = Path(sys.executable)
    r = subprocess.run(
        [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_faults.py"],
        cwd=REPO,
        check=False,
    )
    table()
    return r.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
