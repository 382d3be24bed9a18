"""The 和暦 / Western date parser used by the DMS import."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.records import wareki


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("R7.3.31", dt.date(2025, 3, 31)),
        ("R07/03/31", dt.date(2025, 3, 31)),
        ("r7-3-31", dt.date(2025, 3, 31)),
        ("令和7年3月31日", dt.date(2025, 3, 31)),
        ("令和 7年 3月 31日", dt.date(2025, 3, 31)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("Ｒ７．３．３１", dt.date(2025, 3, 31)),
        ("H31.4.30", dt.date(2019, 4, 30)),
        ("平成31年4月30日", dt.date(2019, 4, 30)),
        ("H1.1.8", dt.date(1989, 1, 8)),
        ("S64.1.7", dt.date(1989, 1, 7)),
        ("昭和45年3月1日", dt.date(1970, 3, 1)),
        ("T15.12.24", dt.date(1926, 12, 24)),
        ("2025-03-31", dt.date(2025, 3, 31)),
        ("2025/3/31", dt.date(2025, 3, 31)),
        ("20250331", dt.date(2025, 3, 31)),
        ("2025年3月31日", dt.date(2025, 3, 31)),
        ("２０２５／０３／３１", dt.date(2025, 3, 31)),
        ("2025/3/31 0:00", dt.date(2025, 3, 31)),  # as Excel writes a date cell
        ("R7.3.31 00:00:00", dt.date(2025, 3, 31)),
    ],
)
def test_accepted_forms(text: str, expected: dt.date) -> None:
    assert wareki.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("H31.5.1", "平成の期間外"),  # 令和 began on 2019-05-01
        ("R1.4.30", "令和の期間外"),
        ("S64.1.8", "昭和の期間外"),  # 平成 began on 1989-01-08
        ("H1.1.7", "平成の期間外"),
        ("T15.12.25", "大正の期間外"),
        ("R7.2.29", "存在しない日付"),
        ("R7.13.1", "存在しない日付"),
        ("2025/02/29", "存在しない日付"),
        ("H0.1.1", "元号の年が不正"),
        ("R7.3", "日がありません"),
        ("31/03/2025", "解釈できません"),
        ("X7.3.31", "解釈できません"),
        ("", "空"),
    ],
)
def test_rejected_with_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        wareki.parse(text)


def test_year_month_for_first_registration() -> None:
    assert wareki.parse("R2.3", month_only=True) == dt.date(2020, 3, 1)
    assert wareki.parse("令和2年3月", month_only=True) == dt.date(2020, 3, 1)
    assert wareki.parse("2020/03", month_only=True) == dt.date(2020, 3, 1)
    assert wareki.parse("202003", month_only=True) == dt.date(2020, 3, 1)
    assert wareki.parse("R2.3.15", month_only=True) == dt.date(2020, 3, 15)
    with pytest.raises(ValueError, match="令和の期間外"):
        wareki.parse("R1.4", month_only=True)  # April 2019 was still 平成


def test_first_year_is_gannen() -> None:
    assert wareki.to_wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki.to_wareki(dt.date(2019, 4, 30)) == "平成31年4月30日"
    assert wareki.to_wareki(dt.date(1989, 1, 7), short=True) == "S64.1.7"


# Day-exact 和暦 starts with the Gregorian calendar (明治6年1月1日); see the next two tests.
dates = st.dates(min_value=wareki.GREGORIAN_FROM, max_value=dt.date(2200, 12, 31))


def test_the_gregorian_calendar_boundary_is_the_same_for_reading_and_writing() -> None:
    """明治 began on 1868-01-25, but its days before 明治6年1月1日 were lunisolar: 明治5年12月2日
    was followed by 明治6年1月1日 (改暦ノ布告). Reading and writing refuse those days alike."""
    assert wareki.parse("明治6年1月1日") == dt.date(1873, 1, 1) == wareki.parse("M6.1.1")
    assert wareki.to_wareki(dt.date(1873, 1, 1)) == "明治6年1月1日"
    for text in ("明治5年12月2日", "M5.3.1", "明治元年10月23日"):
        with pytest.raises(ValueError, match="旧暦"):
            wareki.parse(text)
    with pytest.raises(ValueError, match="旧暦"):
        wareki.to_wareki(dt.date(1872, 12, 31))
    assert wareki.ERAS[0].start == dt.date(1868, 1, 25)  # the era itself, for 明治 years


@given(dates)
def test_round_trip_kanji(d: dt.date) -> None:
    assert wareki.parse(wareki.to_wareki(d)) == d


@given(dates)
def test_round_trip_short(d: dt.date) -> None:
    assert wareki.parse(wareki.to_wareki(d, short=True)) == d


@given(dates)
def test_round_trip_western(d: dt.date) -> None:
    assert wareki.parse(d.isoformat()) == d
    assert wareki.parse(f"{d.year}/{d.month}/{d.day}") == d


@given(st.sampled_from(wareki.ERAS[:-1]), st.integers(min_value=1, max_value=400))
def test_a_date_after_an_era_ended_is_refused_under_its_name(era: wareki.Era, days: int) -> None:
    assert era.end is not None
    after = era.end + dt.timedelta(days=days)
    year = after.year - era.start.year + 1
    with pytest.raises(ValueError, match="期間外"):
        wareki.parse(f"{era.letter}{year}.{after.month}.{after.day}")
    # …while the same day under the era in force is accepted.
    assert wareki.parse(wareki.to_wareki(after)) == after


@given(st.text(max_size=20))
def test_never_crashes_on_garbage(s: str) -> None:
    with contextlib.suppress(ValueError):  # a ValueError is the only failure allowed
        wareki.parse(s)
