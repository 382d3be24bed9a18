"""The one place that asks the time. Everything else takes `now` or a `Clock`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """Wall-clock time, always aware, in Asia/Tokyo."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(JST)


@dataclass
class FixedClock:
    """A clock for tests and for `run-daily --date`: returns a set instant, movable by hand."""

    at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 5, 9, 0, tzinfo=JST))

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at = self.at + delta


def today(clock: Clock) -> dt.date:
    """The current date in Asia/Tokyo (R36: dates only, in Japan's zone)."""
    return clock.now().astimezone(JST).date()


def jst_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=JST)
