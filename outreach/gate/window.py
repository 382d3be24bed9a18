"""Send windows: the earliest allowed send time for a channel, in Asia/Tokyo.

National holidays come from jpholiday (a maintained calendar, not a hand-written list); a
store's regular closing weekdays come from the stores table through the customer's state.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import jpholiday

from outreach.clock import JST
from outreach.gate.policy import Window

HORIZON_DAYS = 60  # no window within two months: the store configuration is unusable


@lru_cache(maxsize=4096)
def is_holiday(day: dt.date) -> bool:
    return bool(jpholiday.is_holiday(day))


def _open(window: Window, day: dt.date, closing_weekdays: frozenset[int]) -> bool:
    if window.skip_holidays and is_holiday(day):
        return False
    return not (window.skip_store_closing_days and day.isoweekday() in closing_weekdays)


def next_allowed(
    window: Window | None, closing_weekdays: frozenset[int], now: dt.datetime
) -> dt.datetime | None:
    """`now` itself when a send is allowed now, else the start of the next open window.

    None when no window opens within the horizon (e.g. a store closed every day).
    """
    if window is None:
        return now
    local = now.astimezone(JST)
    today = local.date()
    for offset in range(HORIZON_DAYS):
        day = today + dt.timedelta(days=offset)
        if not _open(window, day, closing_weekdays):
            continue
        start = dt.datetime.combine(day, window.start, tzinfo=JST)
        if offset > 0:
            return start
        if local < start:
            return start
        if window.end is None or local.time() < window.end:
            return now
    return None
