"""The conversion report (入庫率): of the reminders that reached a customer, by kind, stage and
channel, how many were followed by a booking or a completed service within N days.

A reminder counts once it went out: an email sent, a letter printed, a call worked. It
converts when its vehicle has a booking (入庫予約, from the DMS import or taken on the
call list) or a completion (車検実施) whose date falls within `days` after the reminder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import clock
from outreach.db.bulk import chunks
from outreach.db.models import OutboxMessage, ServiceEvent
from outreach.gate import batch

DEFAULT_DAYS = 90
REACHED = ("sent", "printed", "called")
KINDS = {
    "shaken": "車検",
    "inspection": "法定12ヶ月点検",
    "jibaiseki": "自賠責保険",
    "nini": "任意保険",
}
CHANNELS = {"email": "メール", "post": "郵便", "phone": "電話"}
OB = OutboxMessage


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    stage: str
    channel: str
    reminded: int
    booked: int

    @property
    def rate(self) -> float:
        return self.booked / self.reminded if self.reminded else 0.0

    @property
    def label(self) -> str:
        kind = KINDS.get(self.kind, self.kind)
        return f"{kind} 第{self.stage}段階 {CHANNELS.get(self.channel, self.channel)}"


@dataclass(slots=True)
class Report:
    days: int
    rows: list[Row] = field(default_factory=list)

    @property
    def reminded(self) -> int:
        return sum(r.reminded for r in self.rows)

    @property
    def booked(self) -> int:
        return sum(r.booked for r in self.rows)

    @property
    def rate(self) -> float:
        return self.booked / self.reminded if self.reminded else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "reminded": self.reminded,
            "booked": self.booked,
            "rate": round(self.rate, 4),
            "rows": [
                {
                    "kind": r.kind,
                    "stage": r.stage,
                    "channel": r.channel,
                    "label": r.label,
                    "reminded": r.reminded,
                    "booked": r.booked,
                    "rate": round(r.rate, 4),
                }
                for r in self.rows
            ],
        }


async def report(session: AsyncSession, *, days: int = DEFAULT_DAYS) -> Report:
    q = select(OB.kind, OB.stage, OB.channel, OB.vehicle_id, OB.sent_at).where(
        OB.status.in_(REACHED), OB.kind.in_(list(KINDS)), OB.sent_at.is_not(None)
    )
    reminders = (await session.execute(q)).all()
    vids = sorted({int(r[3]) for r in reminders if r[3] is not None})
    events: dict[int, list[dt.date]] = {}
    for part in chunks(vids, batch.IN_CHUNK):
        eq = select(ServiceEvent.vehicle_id, ServiceEvent.on_date).where(
            ServiceEvent.vehicle_id.in_(part)
        )
        for ev_vid, on in await session.execute(eq):
            events.setdefault(int(ev_vid), []).append(on)
    counts: dict[tuple[str, str, str], list[int]] = {}
    span = dt.timedelta(days=days)
    for kind, stage, channel, vid, sent_at in reminders:
        if sent_at is None:
            continue
        key = (str(kind), str(stage or ""), str(channel))
        c = counts.setdefault(key, [0, 0])
        c[0] += 1
        sent_on = sent_at.astimezone(clock.JST).date()
        if vid is not None and any(sent_on <= d <= sent_on + span for d in events.get(vid, ())):
            c[1] += 1
    order = list(KINDS)
    rows = [
        Row(kind=k, stage=s, channel=ch, reminded=n, booked=b)
        for (k, s, ch), (n, b) in sorted(
            counts.items(),
            key=lambda kv: (order.index(kv[0][0]), kv[0][1], list(CHANNELS).index(kv[0][2])),
        )
    ]
    return Report(days=days, rows=rows)
