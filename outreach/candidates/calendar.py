"""Date arithmetic on plain dates (Asia/Tokyo calendar days) and business days (R36).

Month arithmetic clamps to the month's last day: 2026-01-31 + 1 month = 2026-02-28, and
2026-03-31 - 1 month = 2026-02-28. Business days skip weekends and Japanese national holidays
(jpholiday, a maintained calendar; never a hand-written list).
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import jpholiday

# The longest run of non-business days in a Japanese year (Golden Week plus a weekend, or
# the equinox/Respect-for-the-Aged "silver week") is 5–6 days; 10 is a safe bound.
MAX_SHIFT_DAYS = 10


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by `months` calendar months, clamped to the last day of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = _cal.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def add_years(day: dt.date, years: int) -> dt.date:
    """`day` moved by whole years; 29 February becomes 28 February in common years."""
    return add_months(day, 12 * years)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from `start` to `end` (by month index, ignoring the day)."""
    return (end.year - start.year) * 12 + (end.month - start.month)


@lru_cache(maxsize=4096)
def _is_holiday(day: dt.date) -> bool:
    return bool(jpholiday.is_holiday(day))


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are business days: not a weekend day, not a national holiday."""

    weekends: frozenset[int] = field(default_factory=lambda: frozenset({6, 7}))
    national_holidays: bool = True

    def is_business_day(self, day: dt.date) -> bool:
        if day.isoweekday() in self.weekends:
            return False
        return not (self.national_holidays and _is_holiday(day))

    def last_business_day(self, day: dt.date) -> dt.date:
        """`day` itself if it is a business day, else the last business day before it."""
        return self._nearest(day, dt.timedelta(days=-1))

    def next_business_day(self, day: dt.date) -> dt.date:
        """`day` itself if it is a business day, else the first business day after it."""
        return self._nearest(day, dt.timedelta(days=1))

    def _nearest(self, day: dt.date, step: dt.timedelta) -> dt.date:
        for _ in range(366):
            if self.is_business_day(day):
                return day
            day += step
        raise ValueError("no business day within a year: check business_days.weekends")
