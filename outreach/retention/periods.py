"""config/retention.toml: the period per record kind, with the legal minimums enforced."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from outreach.errors import ConfigError

# The least each period may be (days), from REQUIREMENTS §E and R5/R17.
MINIMUM = {
    "send_log": 1095,
    "gate_decisions": 1,
    "work_lists": 1,
    "closed_customers": 1,
    "provision_records": 1095,
    "incidents": 1825,
    "consent_evidence_after_last_ad": 31,
}


@dataclass(frozen=True, slots=True)
class Periods:
    send_log: int
    gate_decisions: int
    work_lists: int
    closed_customers: int
    provision_records: int
    incidents: int
    consent_evidence_after_last_ad: int

    def cutoff(self, kind: str, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(days=int(getattr(self, kind)))


def load(path: Path) -> Periods:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    table = raw.get("periods")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing [periods]")
    unknown = set(table) - set(MINIMUM)
    if unknown:
        raise ConfigError(f"{path}: periods.{sorted(unknown)[0]}: unknown record kind")
    values = {}
    for kind, least in MINIMUM.items():
        v = table.get(kind)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ConfigError(f"{path}: periods.{kind}: must be a number of days")
        if v < least:
            raise ConfigError(f"{path}: periods.{kind}: {v} days is below the minimum of {least}")
        values[kind] = v
    return Periods(**values)
