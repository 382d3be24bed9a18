"""Which due dates can have a stage in a window: the date ranges the daily run selects.

Exact up to business-day moves: a stage date is in the window when its nominal date lies
between the day after the last business day on or before `window.after` and
`window.through` (a weekend or holiday before the window moves into it). The inverse of the
month arithmetic is computed exactly, so month-end clamping adds no slack. The pure rule is
still applied to every selected row afterwards.
"""

from __future__ import annotations

import datetime as dt

from outreach.candidates.calendar import BusinessCalendar, add_months
from outreach.candidates.facts import Window
from outreach.candidates.rules import KindRule

Range = tuple[dt.date, dt.date]
_DAY = dt.timedelta(days=1)


def nominal_window(window: Window, calendar: BusinessCalendar) -> Range:
    """The nominal (pre-move) stage dates that land in `window` after the business-day move."""
    last = window.after
    for _ in range(366):
        if calendar.is_business_day(last):
            break
        last -= _DAY
    return (last + _DAY, window.through)


def due_ranges(
    rule: KindRule,
    window: Window,
    *,
    booking_window_months: int | None,
    calendar: BusinessCalendar,
) -> list[Range]:
    """Due dates whose stages may fall in `window`, merged into few ranges."""
    lo, hi = nominal_window(window, calendar)
    out: list[Range] = []
    for stage in rule.stages:
        days = dt.timedelta(days=stage.days_before)
        out.append(inverse(lo + days, hi + days, stage.months_before))
        # A booking stage is moved up to the window opening (R31) only when its own lead
        # could reach further back than the window: days on top of months, or more months.
        could_bind = stage.days_before > 0 or stage.months_before > (booking_window_months or 0)
        if stage.booking and booking_window_months is not None and could_bind:
            out.append(inverse(lo, hi, booking_window_months))
    return merge([r for r in out if r[0] <= r[1]])


def shift(ranges: list[Range], months: int) -> list[Range]:
    """The ranges of `x` such that add_months(x, -months) is in `ranges`: for inspections
    due 12 months after a base date, `shift(due_ranges, -12)` gives the base dates."""
    return merge([r for lo, hi in ranges if (r := inverse(lo, hi, months))[0] <= r[1]])


def inverse(lo: dt.date, hi: dt.date, months: int) -> Range:
    """All x with lo <= add_months(x, -months) <= hi (add_months is monotone in x)."""
    x_lo = add_months(lo, months) - dt.timedelta(days=3)
    while add_months(x_lo, -months) < lo:
        x_lo += _DAY
    x_hi = add_months(hi, months) + dt.timedelta(days=3)
    while add_months(x_hi, -months) > hi:
        x_hi -= _DAY
    return (x_lo, x_hi)


def merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + _DAY:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
