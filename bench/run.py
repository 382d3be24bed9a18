"""Run every benchmark in bench/ and print all figures as one table.

    python bench/run.py            # full sizes (as the issues ask; takes a while)
    python bench/run.py --quick    # small sizes, for a smoke check
    python bench/run.py gate send  # only these

Each script is run as its own process (so peak RSS is its own) and prints its own table,
always with the physical limit it is compared against (raw SMTP to the same server, raw
inserts or selects on the same database) measured in the same run. Figures a script also
emits through bench/report.py (`BENCH {json}` lines on stderr) are gathered into one table
at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run.py", "report.py"}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")
    )
    if names:
        scripts = [p for p in scripts if p.stem in names]
    rows: list[dict[str, object]] = []
    failed = []
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        print(f"== {script.name} ({' '.join(cmd[2:]) or 'full'})", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        took = time.perf_counter() - t0
        found = [
            json.loads(line[6:]) for line in proc.stderr.splitlines() if line.startswith("BENCH ")
        ]
        rows.extend(found)
        print(proc.stdout, end="")
        if proc.returncode != 0:
            failed.append(script.name)
            print(f"!! {script.name} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        print(f"   ({took:.1f} s)\n", flush=True)
    print(f"{'bench':<14} {'metric':<44} {'value':>14} {'unit':<10} notes")
    print("-" * 100)
    for r in rows:
        extra = " ".join(
            f"{k}={v}" for k, v in r.items() if k not in {"bench", "metric", "value", "unit"}
        )
        print(f"{r['bench']!s:<14} {r['metric']!s:<44} {r['value']:>14,} {r['unit']!s:<10} {extra}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
