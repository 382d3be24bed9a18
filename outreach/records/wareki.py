"""Dates as Japanese DMS exports write them: ISO-like Western dates and 和暦 (Japanese eras).

Accepted: 2025-03-31, 2025/3/31, 20250331, 2025年3月31日, R7.3.31, R07/03/31, R7-3-31,
令和7年3月31日, 令和元年5月1日, H31.4.30, 平成31年4月30日, S64.1.7, 昭和…, T/大正, M/明治, with
full-width digits too. An era date must fall inside its era (H31.5.1 is refused: 令和 began on
2019-05-01). Year-month values (初度登録年月) parse to the first day of the month.

Pure: no I/O. Errors are `ValueError` with a Japanese message for the staff's error report.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Era:
    kanji: str
    letter: str
    start: dt.date
    end: dt.date | None  # last day, inclusive; None for the current era


ERAS: tuple[Era, ...] = (
    Era("明治", "M", dt.date(1868, 1, 25), dt.date(1912, 7, 29)),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("令和", "R", dt.date(2019, 5, 1), None),
)
# 明治 runs from 慶応4年1月1日 (1868-01-25): the 改元の詔 of 明治元年9月8日 made the new era
# retroactive to the first day of that year. But Japan kept the lunisolar calendar until the
# 改暦ノ布告 (明治5年太政官布告第337号) made 明治5年12月3日 into 明治6年1月1日 (1873-01-01), so
# a 和暦 day before that has no same-numbered Gregorian day: both reading (`parse`) and
# writing (`to_wareki`, `outreach.render.dates`) refuse such days rather than shift them.
GREGORIAN_FROM = dt.date(1873, 1, 1)

_BY_NAME = {e.kanji: e for e in ERAS} | {e.letter: e for e in ERAS}

_YEAR_SEP = r"\s*(?:年|[./\-])\s*"
_DAY = r"(?:\s*(?:月|[./\-])\s*(?P<d>\d{1,2})\s*日?|\s*月)?\s*$"
_ERA_RE = re.compile(
    rf"^(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\s*(?P<y>元|\d{{1,3}}){_YEAR_SEP}(?P<m>\d{{1,2}}){_DAY}",
    re.IGNORECASE,
)
_WEST_RE = re.compile(rf"^(?P<y>\d{{4}}){_YEAR_SEP}(?P<m>\d{{1,2}}){_DAY}")
_COMPACT_RE = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})?$")


_TIME_RE = re.compile(r"\s+\d{1,2}:\d{2}(?::\d{2})?$")


def _normalise(text: str) -> str:
    # NFKC turns full-width digits and letters (Ｒ７．３．３１) into ASCII; 月/日 stay. A time of
    # day after the date (Excel writes "2025/3/31 0:00") is dropped: the field is a date.
    return _TIME_RE.sub("", unicodedata.normalize("NFKC", text).strip())


def _build(y: int, m: int, d: int | None, *, month_only: bool, text: str) -> dt.date:
    if d is None and not month_only:
        raise ValueError(f"日付に日がありません: {text!r}")
    try:
        return dt.date(y, m, d or 1)
    except ValueError:
        raise ValueError(f"存在しない日付です: {text!r}") from None


def parse(text: str, *, month_only: bool = False) -> dt.date:
    """One date from a DMS cell. `month_only` also accepts year-month (→ the 1st)."""
    s = _normalise(text)
    if not s:
        raise ValueError("日付が空です")
    m = _ERA_RE.match(s)
    if m:
        era = _BY_NAME[m["era"].upper() if len(m["era"]) == 1 else m["era"]]
        year = 1 if m["y"] == "元" else int(m["y"])
        if year < 1:
            raise ValueError(f"元号の年が不正です: {text!r}")
        day = int(m["d"]) if m["d"] else None
        date = _build(era.start.year + year - 1, int(m["m"]), day, month_only=month_only, text=text)
        if date < GREGORIAN_FROM.replace(day=1 if day is None else GREGORIAN_FROM.day):
            raise ValueError(_BEFORE_GREGORIAN)
        first = era.start if day is not None else era.start.replace(day=1)
        if date < first or (era.end is not None and date > era.end):
            until = f"{japanese(era.end)}まで" if era.end else ""
            raise ValueError(
                f"{text!r} は{era.kanji}の期間外です"
                f" ({era.kanji}は{japanese(era.start)}から{until})"
            )
        return date
    m = _WEST_RE.match(s) or _COMPACT_RE.match(s)
    if m:
        day = int(m["d"]) if m["d"] else None
        return _build(int(m["y"]), int(m["m"]), day, month_only=month_only, text=text)
    raise ValueError(f"日付として解釈できません: {text!r}")


_BEFORE_GREGORIAN = "明治6年1月1日（1873年1月1日）より前の日付は旧暦のため換算できません"


def era_of(date: dt.date) -> Era:
    """The era a Gregorian day falls in; days before 1873-01-01 are refused (lunisolar)."""
    if date < GREGORIAN_FROM:
        raise ValueError(_BEFORE_GREGORIAN)
    for era in reversed(ERAS):
        if date >= era.start:
            return era
    raise ValueError(f"{date.isoformat()} は明治より前の日付です")


def to_wareki(date: dt.date, *, short: bool = False) -> str:
    """The 和暦 form: 令和7年3月31日 (元年 for year 1), or R7.3.31 with `short`."""
    era = era_of(date)
    year = date.year - era.start.year + 1
    if short:
        return f"{era.letter}{year}.{date.month}.{date.day}"
    y = "元" if year == 1 else str(year)
    return f"{era.kanji}{y}年{date.month}月{date.day}日"


def japanese(date: dt.date) -> str:
    """Western date in Japanese text form: 2025年3月31日."""
    return f"{date.year}年{date.month}月{date.day}日"
