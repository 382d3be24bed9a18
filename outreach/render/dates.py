"""Japanese date and time forms for templates (Jinja2 filters), and month arithmetic.

Pure functions. Datetimes must be aware; they are shown in Asia/Tokyo. Dates are shown as
they are (R36: dates only, in Japan's zone).

    jdate      2026-12-01 → 2026年12月1日(火)
    wareki     2026-12-01 → 令和8年12月1日   (first year: 令和元年5月1日)
    jtime      09:30 → 9時30分, 12:00 → 12時
    jdatetime  2026年12月1日(火) 9時30分
    months_before / months_after   month arithmetic with month-end clamping
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from outreach.candidates.calendar import add_months
from outreach.records import wareki as wareki_mod

JST = ZoneInfo("Asia/Tokyo")
WEEKDAYS = "月火水木金土日"


def _day(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return _jst(value).date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"a date or an aware datetime is required, not {type(value).__name__}")


def _jst(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime refused: pass an aware datetime")
    return value.astimezone(JST)


def jdate(value: dt.date | dt.datetime, weekday: bool = True) -> str:
    """2026年12月1日(火); `weekday=False` drops the (火)."""
    d = _day(value)
    text = f"{d.year}年{d.month}月{d.day}日"
    return f"{text}({WEEKDAYS[d.weekday()]})" if weekday else text


def era(value: dt.date | dt.datetime) -> tuple[str, int]:
    """The era name and the year within it: 2026-12-01 → ("令和", 8). One era table for the
    whole product (`records.wareki.ERAS`); days before 明治6年1月1日 are refused (lunisolar)."""
    d = _day(value)
    e = wareki_mod.era_of(d)
    return e.kanji, d.year - e.start.year + 1


def wareki(value: dt.date | dt.datetime, weekday: bool = False) -> str:
    """令和8年12月1日; the first year of an era is 元年 (令和元年5月1日)."""
    d = _day(value)
    name, year = era(d)
    text = f"{name}{'元' if year == 1 else year}年{d.month}月{d.day}日"
    return f"{text}({WEEKDAYS[d.weekday()]})" if weekday else text


def jtime(value: dt.datetime | dt.time) -> str:
    """9時30分, or 12時 on the hour (24-hour clock, the form used in service notices)."""
    t = _jst(value).time() if isinstance(value, dt.datetime) else value
    return f"{t.hour}時" if t.minute == 0 else f"{t.hour}時{t.minute}分"


def jdatetime(value: dt.datetime) -> str:
    """2026年12月1日(火) 9時30分, in Asia/Tokyo."""
    local = _jst(value)
    return f"{jdate(local.date())} {jtime(local.time())}"


def months_before(value: dt.date | dt.datetime, months: int) -> dt.date:
    """E.g. the day the shaken window opens: expiry 2025-06-01, 2 → 2025-04-01 (R31)."""
    return add_months(_day(value), -months)


def months_after(value: dt.date | dt.datetime, months: int) -> dt.date:
    return add_months(_day(value), months)


FILTERS: dict[str, Callable[..., object]] = {
    "jdate": jdate,
    "wareki": wareki,
    "jtime": jtime,
    "jdatetime": jdatetime,
    "months_before": months_before,
    "months_after": months_after,
}
