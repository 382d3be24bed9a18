"""Pacing sends: relay-wide per second and per hour, and per recipient domain group.

Each limit is a GCRA bucket (a "theoretical arrival time" that moves one interval per send,
with a burst tolerance), so a limit is a couple of floats and checking it costs nothing.
Limits are per process: with several workers, each gets its share of the relay's quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Limit:
    per_second: float | None = None
    per_hour: float | None = None


@dataclass(slots=True)
class Bucket:
    interval: float  # seconds between sends at the sustained rate
    burst: float  # sends allowed back to back
    tat: float = 0.0  # theoretical arrival time of the next send

    def delay(self, now: float) -> float:
        d = max(self.tat, now) - (self.burst - 1) * self.interval - now
        return d if d > 1e-9 else 0.0  # float noise is no wait

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


def buckets_for(limit: Limit) -> list[Bucket]:
    out = []
    if limit.per_second:
        out.append(Bucket(1.0 / limit.per_second, burst=max(1.0, limit.per_second)))
    if limit.per_hour:
        # A minute's worth of the hourly quota may go at once.
        out.append(Bucket(3600.0 / limit.per_hour, burst=max(1.0, limit.per_hour / 60)))
    return out


@dataclass
class Limiter:
    relay: Limit
    groups: Mapping[str, Limit] = field(default_factory=dict)  # group name → limit
    domains: Mapping[str, str] = field(default_factory=dict)  # domain suffix → group name
    now: Callable[[], float] = time.monotonic
    _relay: list[Bucket] = field(init=False)
    _groups: dict[str, list[Bucket]] = field(init=False)

    def __post_init__(self) -> None:
        self._relay = buckets_for(self.relay)
        self._groups = {name: buckets_for(limit) for name, limit in self.groups.items()}

    def group_of(self, address: str) -> str | None:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        while domain:
            if domain in self.domains:
                return self.domains[domain]
            domain = domain.partition(".")[2]
        return None

    def _buckets(self, address: str) -> Iterable[Bucket]:
        yield from self._relay
        group = self.group_of(address)
        if group is not None:
            yield from self._groups[group]

    def delay(self, address: str) -> float:
        """Seconds until a send to `address` fits every limit (0 = now); reserves nothing."""
        t = self.now()
        return max((b.delay(t) for b in self._buckets(address)), default=0.0)

    def take(self, address: str) -> float:
        """Reserve a send to `address`; returns the seconds to wait before sending it."""
        t = self.now()
        wait = self.delay(address)
        for b in self._buckets(address):
            b.take(t + wait)
        return wait
