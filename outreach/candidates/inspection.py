"""法定12ヶ月点検 reminders (R33): due 12 months after the last inspection or registration.

The 24-month inspection is done with the 車検, so an inspection falling inside the shaken
booking window is left to the shaken reminders. For a new car registered on D the sequence
is 12-month at D+1y, 24-month at D+2y, 車検 at D+3y, then 12-month and 車検 alternately.
"""

from __future__ import annotations

import datetime as dt

from outreach.candidates import shaken, stages
from outreach.candidates.calendar import add_months, add_years, months_between
from outreach.candidates.facts import Candidate, VehicleFacts, Window
from outreach.candidates.rules import Rules


def schedule(first_registered_on: dt.date, years: int) -> list[tuple[dt.date, str]]:
    """The statutory sequence for a new private passenger car over `years` years."""
    out: list[tuple[dt.date, str]] = []
    for k in range(1, years + 1):
        if k == 1:
            label = "12m"
        elif k == 2:
            label = "24m"
        else:
            label = "shaken" if (k - 3) % 2 == 0 else "12m"
        out.append((add_years(first_registered_on, k), label))
    return out


def due_date(v: VehicleFacts) -> dt.date | None:
    """12 months after the later of the last inspection and the first registration."""
    bases = [d for d in (v.last_inspection_on, v.first_registered_on) if d is not None]
    return add_months(max(bases), 12) if bases else None


def variant(v: VehicleFacts, due: dt.date) -> str:
    """ "24m" for the new car's 2-year point (its first 車検 is at 3 years), else "12m"."""
    first = v.first_registered_on
    if first is not None and months_between(first, due) == 24 and due == add_years(first, 2):
        return "24m"
    return "12m"


def candidate(v: VehicleFacts, rules: Rules, window: Window) -> Candidate | None:
    rule = rules.kinds.get("inspection")
    if rule is None or not shaken.active(v) or v.user_id is None:
        return None
    due = due_date(v)
    if due is None:
        return None
    if v.shaken_expiry_on is not None and due >= shaken.window_opens(
        v.shaken_expiry_on, rules.booking_window_months
    ):
        return None  # done together with the 車検
    if stages.booked(v.booked_on, due, rules.booking_lookback_months):
        return None
    return stages.candidate(
        "inspection", rules, due, window, v.user_id, vehicle_id=v.id, variant=variant(v, due)
    )
