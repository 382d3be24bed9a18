"""Sending budgets: relay-wide per second and per hour, and per recipient carrier group.

Each limit is a GCRA bucket: a "theoretical arrival time" (`tat`) that moves one interval per
send, with a burst tolerance. A per-second limit has no burst (sends are paced one interval
apart), so no calendar second ever holds more than the rate; a per-hour limit lets a minute's
worth go at once.

The buckets' state lives in the database (`send_budgets`, one row per bucket), so every
worker process on the same database shares one budget: the claim locks the rows, allots
send times to the messages it takes and moves the rows forward in the same transaction
(`outreach.outbox.claim`). This module is the pure part: which bucket a message draws on and
which send time it gets (`Budgets.allot`), from the buckets' state and a wall clock.

What may be sent now is taken; what may not stays queued, untouched, for a later claim:
- the relay's budget is allotted up to `ahead` seconds into the future (the claimed batch is
  paced to those send times, so a relay limit paces the whole batch, as it must);
- a carrier group's budget only for what it allows *now* (within `CARRIER_AHEAD`), so a
  throttled carrier never holds a batch back: its other messages wait in the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

RELAY = "relay"
CARRIER_AHEAD = 0.05  # seconds: "now", for a carrier group's budget
_EPS = 1e-6  # float noise in summed intervals is no wait
LIVE = 10.0  # seconds: a worker whose heartbeat is older is no longer counted


@dataclass(frozen=True, slots=True)
class Limit:
    per_second: float | None = None
    per_hour: float | None = None


@dataclass(slots=True)
class Bucket:
    interval: float  # seconds between sends at the sustained rate
    burst: float  # sends allowed back to back
    tat: float = 0.0  # theoretical arrival time of the next send

    def earliest(self, now: float) -> float:
        """The earliest time a send fits this bucket."""
        return max(now, self.tat - (self.burst - 1) * self.interval)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


def buckets_for(name: str, limit: Limit) -> dict[str, Bucket]:
    """The buckets of one limit, by their row names (`<name>/s`, `<name>/h`)."""
    out: dict[str, Bucket] = {}
    if limit.per_second:
        out[f"{name}/s"] = Bucket(1.0 / limit.per_second, burst=1.0)
    if limit.per_hour:
        out[f"{name}/h"] = Bucket(3600.0 / limit.per_hour, burst=max(1.0, limit.per_hour / 60))
    return out


@dataclass(frozen=True)
class Budgets:
    """The configured limits: the relay's, and each carrier group's with its domains."""

    relay: Limit
    groups: Mapping[str, Limit] = field(default_factory=dict)  # group name → limit
    domains: Mapping[str, str] = field(default_factory=dict)  # domain suffix → group name
    ahead: float = 1.0  # seconds of the relay's budget one claim may allot

    def group_of(self, address: str) -> str | None:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        while domain:
            if domain in self.domains:
                return self.domains[domain]
            domain = domain.partition(".")[2]
        return None

    def group_domains(self, group: str) -> list[str]:
        return sorted(d for d, g in self.domains.items() if g == group)

    def names(self) -> list[str]:
        """Every bucket's row name."""
        return sorted(self.fresh())

    def fresh(self, tats: Mapping[str, float] | None = None) -> dict[str, Bucket]:
        """All buckets, with their state from `tats` (a missing one starts empty)."""
        out = buckets_for(RELAY, self.relay)
        for name, limit in self.groups.items():
            out |= buckets_for(f"carrier:{name}", limit)
        for key, b in out.items():
            b.tat = (tats or {}).get(key, 0.0)
        return out

    def open_groups(self, buckets: Mapping[str, Bucket], now: float, cap: int) -> dict[str, int]:
        """Carrier groups with budget now, and how many sends (at most `cap`) each may take."""
        out: dict[str, int] = {}
        for group in self.groups:
            mine = [b for k, b in buckets.items() if k.startswith(f"carrier:{group}/")]
            room = min((_room(b, now, CARRIER_AHEAD, cap) for b in mine), default=cap)
            if room > 0:
                out[group] = room
        return out

    def relay_next(self, buckets: Mapping[str, Bucket], now: float) -> float:
        """When the relay's budget next has room."""
        return max([now, *(b.earliest(now) for k, b in buckets.items() if k.startswith(RELAY))])

    def relay_room(self, buckets: Mapping[str, Bucket], now: float, limit: int) -> int:
        """How many sends the relay's budget allows within `ahead` seconds (at most `limit`)."""
        mine = [b for k, b in buckets.items() if k.startswith(f"{RELAY}/")]
        return min([limit, *(_room(b, now, self.ahead, limit) for b in mine)])

    def allot(
        self,
        buckets: Mapping[str, Bucket],
        now: float,
        groups: Sequence[str | None],
        limit: int,
    ) -> list[float | None]:
        """A send time for each candidate in order (its carrier group, or None), or None
        for one that does not fit now; moves the buckets forward for those allotted."""
        out: list[float | None] = []
        relay = [b for k, b in buckets.items() if k.startswith(f"{RELAY}/")]
        taken = 0
        for group in groups:
            if taken >= limit:
                out.append(None)
                continue
            mine = [b for k, b in buckets.items() if k.startswith(f"carrier:{group}/")]
            if group is not None and any(
                b.earliest(now) > now + CARRIER_AHEAD + _EPS for b in mine
            ):
                out.append(None)  # this carrier has no budget now: stays queued
                continue
            at = max([now, *(b.earliest(now) for b in relay), *(b.earliest(now) for b in mine)])
            if at > now + self.ahead + _EPS:
                out.append(None)  # beyond the relay's horizon (the relay is full for now)
                continue
            for b in (*relay, *mine):
                b.take(at)
            out.append(at)
            taken += 1
        return out


def _room(b: Bucket, now: float, ahead: float, cap: int) -> int:
    """Sends (at most `cap`) that fit `b` within `ahead` seconds from `now`, without moving it."""
    probe = Bucket(b.interval, b.burst, b.tat)
    n = 0
    while n < cap and probe.earliest(now) <= now + ahead + _EPS:
        probe.take(probe.earliest(now))
        n += 1
    return n


@dataclass
class Pacer:
    """One worker's own pacing at send time: its share (1/`workers`) of every per-second
    limit, taken right before each send. The claim's allotment spaces the workers' sends
    in the database; this keeps a worker that fell behind (a busy machine) from catching up
    in a burst: any second holds at most its share + 1 of its sends, so N workers together
    at most the rate + N."""

    budgets: Budgets
    now: Callable[[], float] = time.monotonic
    workers: int = 1
    _buckets: dict[str, Bucket] = field(init=False)

    def __post_init__(self) -> None:
        self._buckets = {k: b for k, b in self.budgets.fresh().items() if k.endswith("/s")}
        self._base = {k: b.interval for k, b in self._buckets.items()}
        self._mine: dict[str | None, list[Bucket]] = {}  # the buckets a group's send takes

    def share(self, workers: int) -> None:
        """Pace at 1/`workers` of each limit from now on."""
        self.workers = max(1, workers)
        for k, b in self._buckets.items():
            b.interval = self._base[k] * self.workers

    def take(self, address: str) -> float:
        """Reserve a send to `address`; returns the seconds to wait before sending it."""
        group = self.budgets.group_of(address)
        mine = self._mine.get(group)
        if mine is None:
            names = {f"{RELAY}/s", f"carrier:{group}/s"}
            mine = self._mine[group] = [b for k, b in self._buckets.items() if k in names]
        t = self.now()
        at = t
        for b in mine:
            at = max(at, b.earliest(t))
        for b in mine:
            b.take(at)
        return at - t
