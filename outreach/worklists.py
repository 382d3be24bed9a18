"""Call lists as CSV files, one per calling day, for staff who work from paper or a sheet.

A file is the call list of one day (`<data_dir>/calls/<day>.csv`): the queued phone entries
whose first allowed time falls on that day (outreach.calls), every store, with the day on
each line. A call deferred past a holiday or a store's closing day is in the file of the day
it may be made, and in no other. Files are rewritten whole, so a re-run after a crash yields
the same file. Print batches (post) are outreach.letters.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import calls, clock
from outreach.db.models import OutboxMessage, Run
from outreach.render import dates

FOLDER = "calls"
HEADER = (
    "架電日",
    "管理番号",
    "店舗",
    "氏名",
    "フリガナ",
    "電話番号",
    "ご用件",
    "お車",
    "登録番号",
    "期日",
    "架電可能時間",
    "これまでの架電",
)


async def call_days(session: AsyncSession, run_date: dt.date) -> set[dt.date]:
    """The calling days of the phone entries queued by the daily runs of `run_date`."""
    o = OutboxMessage
    runs = select(Run.id).where(Run.run_date == run_date, Run.kind == "daily")
    q = select(o.not_before).where(o.channel == "phone", o.status == "queued", o.run_id.in_(runs))
    return {t.astimezone(clock.JST).date() for t in (await session.scalars(q)).all()}


async def write_calls(
    session: AsyncSession, data_dir: Path, days: Iterable[dt.date], *, hours: str
) -> list[Path]:
    """Rewrite the call list file of each day; the files written."""
    folder = data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for day in sorted(set(days)):
        rows = await calls.day_list(session, day)
        lines = [list(HEADER)]
        for c in rows:
            lines.append(
                [
                    dates.jdate(c.call_on),
                    str(c.outbox_id),
                    c.store or "",
                    c.name,
                    c.kana or "",
                    c.phone or "",
                    c.why,
                    c.car_name or "",
                    c.registration_number or "",
                    c.due_on_ja,
                    hours,
                    "／".join(f"{a.at.astimezone(clock.JST):%m/%d} {a.label}" for a in c.attempts),
                ]
            )
        path = folder / f"{day.isoformat()}.csv"
        _atomic_write(path, lines)
        written.append(path)
    return written


def _atomic_write(path: Path, lines: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(lines)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(buf.getvalue().encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
