"""Japanese date forms and month arithmetic (outreach.render.dates)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.candidates.calendar import add_months
from outreach.render import dates

JST = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    "day,text",
    [
        (dt.date(2026, 12, 1), "2026年12月1日(火)"),
        (dt.date(2027, 1, 3), "2027年1月3日(日)"),
        (dt.date(2028, 2, 29), "2028年2月29日(火)"),
    ],
)
def test_jdate(day: dt.date, text: str) -> None:
    assert dates.jdate(day) == text
    assert dates.jdate(day, weekday=False) == text.split("(")[0]


@pytest.mark.parametrize(
    "day,text",
    [
        (dt.date(2026, 12, 1), "令和8年12月1日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
        (dt.date(1926, 12, 24), "大正15年12月24日"),
        (dt.date(1912, 7, 30), "大正元年7月30日"),
        (dt.date(1912, 7, 29), "明治45年7月29日"),
        (dt.date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_wareki_at_era_boundaries(day: dt.date, text: str) -> None:
    assert dates.wareki(day) == text


def test_wareki_before_the_gregorian_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="明治6年"):
        dates.wareki(dt.date(1872, 12, 31))


def test_one_era_table_for_reading_and_writing() -> None:
    """The templates' 和暦 and the import's 和暦 agree on every era boundary."""
    from outreach.records import wareki as wareki_mod

    for era in wareki_mod.ERAS:
        first = max(era.start, wareki_mod.GREGORIAN_FROM)
        assert dates.wareki(first) == wareki_mod.to_wareki(first)
        assert wareki_mod.parse(dates.wareki(first)) == first


def test_datetimes_are_shown_in_tokyo_and_naive_ones_refused() -> None:
    late_utc = dt.datetime(2026, 11, 30, 15, 30, tzinfo=dt.UTC)  # 2026-12-01 00:30 JST
    assert dates.jdate(late_utc) == "2026年12月1日(火)"
    assert dates.jdatetime(late_utc) == "2026年12月1日(火) 0時30分"
    assert dates.jtime(dt.datetime(2026, 12, 1, 12, 0, tzinfo=JST)) == "12時"
    assert dates.jtime(dt.time(9, 5)) == "9時5分"
    with pytest.raises(ValueError, match="naive"):
        dates.jdate(dt.datetime(2026, 12, 1, 9, 0))


@pytest.mark.parametrize(
    "expiry,opens",
    [
        (dt.date(2025, 6, 1), dt.date(2025, 4, 1)),  # R31's example
        (dt.date(2026, 4, 30), dt.date(2026, 2, 28)),  # month end clamped
        (dt.date(2028, 4, 30), dt.date(2028, 2, 29)),  # leap year
        (dt.date(2026, 5, 31), dt.date(2026, 3, 31)),
        (dt.date(2026, 1, 15), dt.date(2025, 11, 15)),  # across a year
    ],
)
def test_months_before(expiry: dt.date, opens: dt.date) -> None:
    assert dates.months_before(expiry, 2) == opens


@settings(deadline=None)  # the machine is shared: time is not the property
@given(st.dates(dt.date(1900, 3, 1), dt.date(2200, 1, 1)), st.integers(-240, 240))
def test_add_months_properties(day: dt.date, n: int) -> None:
    moved = add_months(day, n)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == n
    assert moved.day <= day.day
    if moved.day < day.day:  # clamped: only to the last day of the target month
        assert (moved + dt.timedelta(days=1)).month != moved.month
    if day.day <= 28:
        assert add_months(moved, -n) == day
