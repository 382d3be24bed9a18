"""Recurring campaigns: the next occurrence of a cron expression (Asia/Tokyo).

Uses the scheduler module's cron trigger, so the one module that imports APScheduler stays
`outreach.schedule`, and a campaign's cron means exactly what a job's cron means.
"""

from __future__ import annotations

import datetime as dt

from outreach import schedule
from outreach.staff.errors import Problem


def next_after(cron: str, after: dt.datetime) -> dt.datetime | None:
    spec = schedule.JobSpec(id="campaign", what="outreach.staff.sending:scheduled", cron=cron)
    result: dt.datetime | None = schedule.trigger(spec).get_next_fire_time(None, after)
    return result


def check(cron: str | None, now: dt.datetime) -> list[Problem]:
    if not cron:
        return []
    try:
        found = next_after(cron, now)
    except (ValueError, TypeError) as e:
        return [Problem("recurrence", f"cron の指定が正しくありません: {e}")]
    if found is None:
        return [Problem("recurrence", "cron の指定では次の配信日時がありません")]
    return []


def occurrence(at: dt.datetime) -> str:
    """The label of one occurrence in outbox keys, e.g. 20261201T1000 (JST)."""
    from outreach.clock import JST

    return at.astimezone(JST).strftime("%Y%m%dT%H%M")
