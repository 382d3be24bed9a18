"""The stage arithmetic shared by every reminder kind, with catch-up."""

from __future__ import annotations

import datetime as dt

from outreach.candidates.calendar import BusinessCalendar, add_months
from outreach.candidates.facts import Candidate, Window
from outreach.candidates.rules import KindRule, Rules, Stage


def dated(
    rule: KindRule,
    due: dt.date,
    calendar: BusinessCalendar,
    *,
    booking_opens: dt.date | None = None,
) -> list[tuple[Stage, dt.date]]:
    """Each stage with the business day it falls on, earliest first.

    A booking stage is never dated before `booking_opens` (R31). A stage moved past the due
    date by weekends and holidays is dropped: a reminder after the expiry is no reminder.
    """
    key = (due, booking_opens, calendar)
    cached = rule.memo.get(key)
    if cached is not None:
        return list(cached)
    if len(rule.memo) > 20_000:  # a bound: the rules live as long as the process
        rule.memo.clear()
    out: list[tuple[Stage, dt.date]] = []
    for stage in rule.stages:
        raw = stage.raw_date(due)
        if stage.booking and booking_opens is not None and raw < booking_opens:
            raw = booking_opens
        day = calendar.next_business_day(raw)
        if day <= due:
            out.append((stage, day))
    rule.memo[key] = tuple(out)
    return out


def current(
    rule: KindRule,
    due: dt.date,
    window: Window,
    calendar: BusinessCalendar,
    *,
    booking_opens: dt.date | None = None,
) -> tuple[Stage, dt.date] | None:
    """The one stage to send in `window`: the latest whose date is in the window, provided
    the due date has not passed. Stale stages skipped during an outage are never sent."""
    if window.through > due:
        return None
    hit: tuple[Stage, dt.date] | None = None
    for stage, day in dated(rule, due, calendar, booking_opens=booking_opens):
        if day in window:
            hit = (stage, day)
    return hit


def candidate(
    kind: str,
    rules: Rules,
    due: dt.date,
    window: Window,
    customer_id: int,
    *,
    booking_opens: dt.date | None = None,
    vehicle_id: int | None = None,
    policy_id: int | None = None,
    variant: str | None = None,
    insurer: str | None = None,
) -> Candidate | None:
    """The `kind` reminder of the stage `current` finds for `due` in `window` (None: none)."""
    hit = current(rules.kinds[kind], due, window, rules.calendar, booking_opens=booking_opens)
    if hit is None:
        return None
    stage, day = hit
    return Candidate(
        kind=kind,
        stage=stage.name,
        customer_id=customer_id,
        due_on=due,
        stage_on=day,
        booking=stage.booking,
        advertising=stage.advertising,
        templates=tuple(stage.templates.items()),
        vehicle_id=vehicle_id,
        policy_id=policy_id,
        variant=variant,
        insurer=insurer,
    )


def booked(booked_on: dt.date | None, due: dt.date, lookback_months: int) -> bool:
    """A booking dated within `lookback_months` before the due date (or later) ends the cycle."""
    return booked_on is not None and booked_on >= add_months(due, -lookback_months)
