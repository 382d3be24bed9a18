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

import calendar
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
WEEKDAYS = "月火水木金土日"

# (first day, name): 明治 from the adoption of the Gregorian calendar (明治6年1月1日), since
# earlier 明治 dates are lunisolar and have no Gregorian equivalent day-for-day here.
ERAS: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
    (dt.date(1912, 7, 30), "大正"),
    (dt.date(1873, 1, 1), "明治"),
)
MEIJI_FIRST_YEAR = 1868


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
    """The era name and the year within it: 2026-12-01 → ("令和", 8)."""
    d = _day(value)
    for start, name in ERAS:
        if d >= start:
            first_year = MEIJI_FIRST_YEAR if name == "明治" else start.year
            return name, d.year - first_year + 1
    raise ValueError(f"{d.isoformat()} is before the Gregorian calendar in Japan (明治6年)")


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


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the month's last day (1/31 + 1 → 2/28)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


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
