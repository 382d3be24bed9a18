"""車検 (shaken) reminders: stages counted back from the expiry on the 車検証 (R30, R31)."""

from __future__ import annotations

import datetime as dt

from outreach.candidates import stages
from outreach.candidates.calendar import add_months
from outreach.candidates.facts import Candidate, VehicleFacts, Window
from outreach.candidates.rules import Rules


def window_opens(expiry: dt.date, months: int = 2) -> dt.date:
    """The first day an inspection keeps the old expiry (2 months before, since 2025-04-01).

    Expiry 2025-06-01 → 2025-04-01; month ends clamp: expiry 2026-04-30 → 2026-02-28."""
    return add_months(expiry, -months)


def active(v: VehicleFacts) -> bool:
    """Reminders only for a vehicle still held, with a known user (使用者)."""
    return v.status == "owned" and v.user_id is not None


def candidate(v: VehicleFacts, rules: Rules, window: Window) -> Candidate | None:
    rule = rules.kinds.get("shaken")
    if rule is None or not active(v) or v.shaken_expiry_on is None or v.user_id is None:
        return None
    due = v.shaken_expiry_on
    if stages.booked(v.booked_on, due, rules.booking_lookback_months):
        return None
    opens = window_opens(due, rules.booking_window_months)
    return stages.candidate(
        "shaken", rules, due, window, v.user_id, booking_opens=opens, vehicle_id=v.id
    )
