"""What the sending machinery is doing right now, for the console's sending-state panel.

Workers alive (their last heartbeat), the queue by status and channel, the oldest email
still waiting and why it waits, and a warning when mail is ready but nothing drains it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import heartbeat
from outreach.db.models import OutboxMessage, WorkerHeartbeat
from outreach.gate import reasons

OB = OutboxMessage
STUCK = dt.timedelta(minutes=5)  # ready mail older than this with a live worker: not draining
STATUS_LABELS = {
    "queued": "送信待ち",
    "sending": "送信中",
    "sent": "送信済み",
    "failed": "送信失敗",
    "suppressed": "送信停止",
    "paused": "一時停止",
    "cancelled": "取消",
    "printed": "印刷済み",
    "called": "架電済み",
}
CHANNEL_LABELS = {"email": "メール", "post": "郵便", "phone": "電話"}


@dataclass(frozen=True)
class Worker:
    worker_id: str
    started_at: dt.datetime
    beat_at: dt.datetime
    claimed: int
    in_process: bool
    alive: bool


@dataclass(frozen=True)
class Waiting:
    outbox_id: int
    kind: str
    created_at: dt.datetime
    not_before: dt.datetime
    attempts: int
    why: str


@dataclass(frozen=True)
class State:
    now: dt.datetime
    workers: list[Worker]
    depth: dict[tuple[str, str], int]  # (status, channel) → count
    ready: int  # queued email whose time has come
    oldest: Waiting | None
    warning: str | None

    @property
    def alive(self) -> int:
        return sum(1 for w in self.workers if w.alive)

    def table(self) -> list[tuple[str, list[int]]]:
        """Rows (status label, counts per channel of CHANNEL_LABELS) for the page."""
        out = []
        for status, label in STATUS_LABELS.items():
            counts = [self.depth.get((status, ch), 0) for ch in CHANNEL_LABELS]
            if any(counts):
                out.append((label, counts))
        return out


def why_waiting(
    m_not_before: dt.datetime, last_error: str | None, attempts: int, now: dt.datetime
) -> str:
    """Why a queued email has not gone yet, in staff's words."""
    if m_not_before <= now:
        return "送信できる状態です（ワーカーの処理待ち）"
    if last_error == "rate limit":
        return "送信レートの上限のため待機中"
    if last_error and attempts > 0 and last_error.split()[0] not in reasons.ALL:
        return "一時的な送信失敗のため再試行待ち"
    if last_error:
        labels = []
        for code in last_error.split():
            try:
                labels.append(reasons.get(code).ja)
            except Exception:
                labels.append(code)
        return "延期: " + "、".join(labels)
    return "送信時間帯の開始または配信間隔の待ち（予定時刻まで待機）"


async def snapshot(session: AsyncSession, *, now: dt.datetime) -> State:
    workers = [
        Worker(
            worker_id=w.worker_id,
            started_at=w.started_at,
            beat_at=w.beat_at,
            claimed=int(w.claimed),
            in_process=bool(w.in_process),
            alive=now - w.beat_at <= heartbeat.STALE,
        )
        for w in (
            await session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.beat_at.desc()))
        ).all()
    ]
    depth = {
        (str(s), str(c)): int(n)
        for s, c, n in await session.execute(
            select(OB.status, OB.channel, func.count()).group_by(OB.status, OB.channel)
        )
    }
    ready = int(
        (
            await session.execute(
                select(func.count())
                .select_from(OB)
                .where(OB.status == "queued", OB.channel == "email", OB.not_before <= now)
            )
        ).scalar()
        or 0
    )
    row = (
        await session.execute(
            select(OB.id, OB.kind, OB.created_at, OB.not_before, OB.attempts, OB.last_error)
            .where(OB.status == "queued", OB.channel == "email")
            .order_by(OB.not_before, OB.id)
            .limit(1)
        )
    ).first()
    oldest = None
    if row is not None:
        oid, kind, created, nb, attempts, err = row
        oldest = Waiting(
            int(oid),
            str(kind),
            created,
            nb,
            int(attempts),
            why_waiting(nb, err, int(attempts), now),
        )
    warning = None
    alive = any(w.alive for w in workers)
    if ready and not alive:
        warning = (
            f"送信できるメールが {ready} 件ありますが、動いている送信ワーカーがありません。"
            "outreach serve（ワーカー有効）または outreach worker を起動してください。"
        )
    elif ready and oldest is not None and now - oldest.not_before > STUCK:
        minutes = int((now - oldest.not_before).total_seconds() // 60)
        warning = (
            f"送信できるメールが {ready} 件、{minutes} 分以上送信されていません。"
            "ワーカーのログと送信先サーバーを確認してください。"
        )
    return State(now=now, workers=workers, depth=depth, ready=ready, oldest=oldest, warning=warning)
