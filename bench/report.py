"""A shared way for bench scripts to print figures the runner can collect.

Each figure is printed as a readable line and as a `BENCH {json}` line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any


def figure(bench: str, metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": bench, "metric": metric, "value": round(value, 3), "unit": unit, **extra}
    note = " ".join(f"{k}={v}" for k, v in extra.items())
    # Ratios and small times with two decimals: 0.58 against a target of 0.6 must not read
    # as "0.6".
    shown = f"{value:>14,.2f}" if unit in ("x", "ms") and abs(value) < 100 else f"{value:>14,.1f}"
    print(f"{bench:<14} {metric:<40} {shown} {unit:<10} {note}")
    print("BENCH " + json.dumps(row, ensure_ascii=False), file=sys.stderr)


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def process_cpu(pid: int) -> tuple[int, float]:
    """(process group, CPU seconds user + system so far) of a live process, from Linux's
    /proc/<pid>/stat; OSError if it is gone."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
