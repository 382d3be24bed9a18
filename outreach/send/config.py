"""config/sending.toml: retry rules, worker batch and lease, carrier domain limits."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach.errors import ConfigError
from outreach.send import ratelimit, retry


@dataclass(frozen=True)
class SendingConfig:
    retry: retry.Policy = field(default_factory=retry.Policy)
    batch: int = 100
    lease: dt.timedelta = dt.timedelta(seconds=300)
    # How far ahead one claim allots the relay's budget: the longest a message waits in its
    # batch for the relay (a carrier group's budget is only taken for what it allows now).
    max_wait: float = 1.0
    groups: dict[str, ratelimit.Limit] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)  # domain → group

    def budgets(self, per_second: float | None, per_hour: float | None) -> ratelimit.Budgets:
        """The relay's limits (settings) with the carrier groups of this file."""
        return ratelimit.Budgets(
            relay=ratelimit.Limit(per_second, per_hour),
            groups=self.groups,
            domains=self.domains,
            ahead=self.max_wait,
        )


def load(path: Path) -> SendingConfig:
    """Read the file; a missing file means the defaults, a bad value is a ConfigError."""
    if not path.exists():
        return SendingConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e
    return parse(raw, str(path))


def parse(raw: dict[str, Any], where: str = "sending.toml") -> SendingConfig:
    r = raw.get("retry", {})
    w = raw.get("worker", {})
    policy = retry.Policy(
        max_attempts=_num(r, "max_attempts", 8, where, "retry", integer=True),
        base=dt.timedelta(seconds=_num(r, "base_seconds", 30, where, "retry")),
        cap=dt.timedelta(seconds=_num(r, "cap_seconds", 7200, where, "retry")),
    )
    groups: dict[str, ratelimit.Limit] = {}
    domains: dict[str, str] = {}
    for name, g in raw.get("carriers", {}).items():
        section = f"carriers.{name}"
        if not isinstance(g, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        listed = g.get("domains")
        if not isinstance(listed, list) or not all(isinstance(d, str) and d for d in listed):
            raise ConfigError(f"{where}: [{section}] domains must be a list of domain names")
        ps = g.get("per_second")
        ph = g.get("per_hour")
        groups[name] = ratelimit.Limit(
            _num(g, "per_second", 0, where, section) if ps is not None else None,
            _num(g, "per_hour", 0, where, section) if ph is not None else None,
        )
        for d in listed:
            domains[d.lower()] = name
    return SendingConfig(
        retry=policy,
        batch=_num(w, "batch", 100, where, "worker", integer=True),
        lease=dt.timedelta(seconds=_num(w, "lease_seconds", 300, where, "worker")),
        max_wait=_num(w, "max_wait_seconds", 1.0, where, "worker"),
        groups=groups,
        domains=domains,
    )


def _num(
    table: dict[str, Any],
    key: str,
    default: Any,
    where: str,
    section: str,
    *,
    integer: bool = False,
) -> Any:
    value = table.get(key, default)
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{where}: [{section}] {key} must be {kind}, got {value!r}")
    return value
