"""Complaint rate per JST day and stream (R25), and what it calls for.

`judge` is pure: counts in, one `Rate` per (day, stream) out, each with its level —
`ok`, `alert` (at or above `alert_rate`, default 0.1 %), `pause` (at or above `pause_rate`,
default 0.3 %: campaign sending stops) or `low_volume` (fewer than `min_sent` messages: shown,
not judged). A complaint counts on the day its mail was sent (the outbox row it names), or on
the day it arrived when it names none. Streams: `campaign` (advertising mail) and `reminder`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import FeedbackReport, OutboxMessage
from outreach.feedback.config import FeedbackConfig

STREAMS = ("campaign", "reminder")
Key = tuple[dt.date, str]


@dataclass(frozen=True, slots=True)
class Rate:
    day: dt.date
    stream: str
    sent: int
    complaints: int
    level: str  # ok|alert|pause|low_volume

    @property
    def rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "stream": self.stream,
            "sent": self.sent,
            "complaints": self.complaints,
            "rate": self.rate,
            "level": self.level,
        }


def level(sent: int, complaints: int, cfg: FeedbackConfig) -> str:
    if sent < cfg.min_sent:
        return "low_volume"
    r = complaints / sent
    if r >= cfg.pause_rate:
        return "pause"
    if r >= cfg.alert_rate:
        return "alert"
    return "ok"


def judge(
    sent: Mapping[Key, int], complaints: Mapping[Key, int], cfg: FeedbackConfig
) -> list[Rate]:
    """One Rate per (day, stream) that sent mail or received a complaint, newest day first."""
    keys = sorted(set(sent) | set(complaints), key=lambda k: (-k[0].toordinal(), k[1]))
    out = []
    for d, s in keys:
        n, c = sent.get((d, s), 0), complaints.get((d, s), 0)
        out.append(Rate(d, s, n, c, level(n, c, cfg)))
    return out


def stream_of(advertising: bool) -> str:
    return "campaign" if advertising else "reminder"


def jst_day(session: AsyncSession, column: Any) -> Any:
    """The JST calendar date of a timestamp column, in SQL (stored as UTC on both engines)."""
    if session.get_bind().dialect.name == "postgresql":
        return sql_cast(func.timezone("Asia/Tokyo", column), Date)
    return func.date(column, "+9 hours")  # Japan has no daylight saving time


async def load(
    session: AsyncSession, first: dt.date, last: dt.date, cfg: FeedbackConfig
) -> list[Rate]:
    """The rates of every JST day from `first` to `last` (inclusive)."""
    o = OutboxMessage
    day = jst_day(session, o.sent_at)
    start = dt.datetime.combine(first, dt.time(), tzinfo=JST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=JST)
    rows = await session.execute(
        select(day, o.advertising, func.count())
        .where(o.status == "sent", o.channel == "email", o.sent_at >= start, o.sent_at < end)
        .group_by(day, o.advertising)
    )
    sent: dict[Key, int] = {}
    for d, advertising, n in rows.all():
        key = (_date(d), stream_of(bool(advertising)))
        sent[key] = sent.get(key, 0) + int(n)
    f = FeedbackReport
    crows = await session.execute(
        select(f.day, f.stream, func.count())
        .where(f.kind == "complaint", f.day >= first, f.day <= last)
        .group_by(f.day, f.stream)
    )
    complaints: dict[Key, int] = {}
    for d, stream, n in crows.all():
        key = (_date(d), stream or "campaign")
        complaints[key] = complaints.get(key, 0) + int(n)
    return judge(sent, complaints, cfg)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
