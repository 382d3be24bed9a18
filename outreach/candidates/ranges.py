"""Which due dates can have a stage in a window: the date ranges the daily run selects.

The ranges are a small superset (a few days of slack for month-end clamping and for
business-day moves); the exact rule is applied to every selected row afterwards.
"""

from __future__ import annotations

import datetime as dt

from outreach.candidates.calendar import MAX_SHIFT_DAYS, add_months
from outreach.candidates.facts import Window
from outreach.candidates.rules import KindRule

Range = tuple[dt.date, dt.date]
CLAMP_SLACK = dt.timedelta(days=3)  # 31 → 28 is the largest month-end clamp


def due_ranges(rule: KindRule, window: Window, *, booking_window_months: int | None) -> list[Range]:
    """Due dates whose stages may fall in `window`, merged into few ranges."""
    lo_raw = window.after + dt.timedelta(days=1 - MAX_SHIFT_DAYS)
    hi_raw = window.through
    out: list[Range] = []
    for stage in rule.stages:
        days = dt.timedelta(days=stage.days_before)
        out.append(_inverse(lo_raw + days, hi_raw + days, stage.months_before))
        if stage.booking and booking_window_months is not None:
            out.append(_inverse(lo_raw, hi_raw, booking_window_months))
    return merge(out)


def shift(ranges: list[Range], months: int) -> list[Range]:
    """The ranges of `x` such that add_months(x, -months) may be in `ranges`."""
    return merge([_inverse(lo, hi, months) for lo, hi in ranges])


def _inverse(lo: dt.date, hi: dt.date, months: int) -> Range:
    # add_months is monotone; the clamp can only pull a date back by up to 3 days.
    return (add_months(lo, months) - CLAMP_SLACK, add_months(hi, months) + CLAMP_SLACK)


def merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + dt.timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
