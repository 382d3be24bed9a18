"""Date arithmetic with month-end clamping (R36) and business days (jpholiday)."""

from __future__ import annotations

import calendar
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from outreach.candidates.calendar import (
    MAX_SHIFT_DAYS,
    BusinessCalendar,
    add_months,
    add_years,
    months_between,
)

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31))
month_ends = dates.map(lambda d: d.replace(day=calendar.monthrange(d.year, d.month)[1]))
near_month_end = st.one_of(dates, month_ends, dates.map(lambda d: d.replace(day=min(d.day, 28))))


def test_month_end_examples() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 5, 31), -2) == dt.date(2026, 3, 31)
    assert add_months(dt.date(2025, 6, 1), -2) == dt.date(2025, 4, 1)  # R31 example
    assert add_years(dt.date(2028, 2, 29), 1) == dt.date(2029, 2, 28)
    assert add_months(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 15)
    assert add_months(dt.date(2026, 1, 15), -1) == dt.date(2025, 12, 15)


@given(near_month_end, st.integers(-120, 120))
def test_add_months_lands_in_the_right_month_and_clamps(day: dt.date, n: int) -> None:
    out = add_months(day, n)
    assert months_between(day, out) == n
    last = calendar.monthrange(out.year, out.month)[1]
    assert out.day == min(day.day, last)


@given(near_month_end, st.integers(-60, 60))
def test_add_months_roundtrip_never_moves_forward(day: dt.date, n: int) -> None:
    back = add_months(add_months(day, n), -n)
    assert back <= day
    assert (day - back).days <= 3  # only the clamp (31 → 28) can lose days
    if day.day <= 28:
        assert back == day


@given(near_month_end, near_month_end, st.integers(-36, 36))
def test_add_months_is_monotone(a: dt.date, b: dt.date, n: int) -> None:
    if a <= b:
        assert add_months(a, n) <= add_months(b, n)


@given(near_month_end, st.integers(-24, 24), st.integers(-24, 24))
def test_add_months_composes_up_to_the_clamp(day: dt.date, m: int, n: int) -> None:
    two_steps = add_months(add_months(day, m), n)
    one_step = add_months(day, m + n)
    assert two_steps <= one_step
    assert months_between(two_steps, one_step) == 0


def test_business_days_skip_weekends_and_national_holidays() -> None:
    cal = BusinessCalendar()
    assert cal.next_business_day(dt.date(2026, 11, 23)) == dt.date(2026, 11, 24)  # 勤労感謝の日
    assert cal.next_business_day(dt.date(2026, 11, 21)) == dt.date(2026, 11, 24)  # Sat → Tue
    assert cal.next_business_day(dt.date(2026, 5, 2)) == dt.date(2026, 5, 7)  # Golden Week
    assert cal.next_business_day(dt.date(2026, 1, 1)) == dt.date(2026, 1, 2)
    assert cal.next_business_day(dt.date(2026, 11, 25)) == dt.date(2026, 11, 25)
    no_holidays = BusinessCalendar(national_holidays=False)
    assert no_holidays.next_business_day(dt.date(2026, 11, 23)) == dt.date(2026, 11, 23)


@given(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31)))
def test_next_business_day_is_the_first_business_day_on_or_after(day: dt.date) -> None:
    cal = BusinessCalendar()
    out = cal.next_business_day(day)
    assert day <= out <= day + dt.timedelta(days=MAX_SHIFT_DAYS)
    assert cal.is_business_day(out)
    assert all(not cal.is_business_day(day + dt.timedelta(days=i)) for i in range((out - day).days))


def test_last_business_day_goes_back_over_weekends_and_holidays() -> None:
    cal = BusinessCalendar()
    assert cal.last_business_day(dt.date(2026, 12, 5)) == dt.date(2026, 12, 4)  # Sat → Fri
    assert cal.last_business_day(dt.date(2026, 11, 23)) == dt.date(2026, 11, 20)  # 勤労感謝の日
    assert cal.last_business_day(dt.date(2026, 5, 6)) == dt.date(2026, 5, 1)  # Golden Week
    assert cal.last_business_day(dt.date(2026, 11, 25)) == dt.date(2026, 11, 25)


@given(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31)))
def test_last_business_day_is_the_last_business_day_on_or_before(day: dt.date) -> None:
    cal = BusinessCalendar()
    out = cal.last_business_day(day)
    assert day - dt.timedelta(days=MAX_SHIFT_DAYS) <= out <= day
    assert cal.is_business_day(out)
    assert all(not cal.is_business_day(day - dt.timedelta(days=i)) for i in range((day - out).days))
