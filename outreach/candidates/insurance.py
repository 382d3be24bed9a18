"""自賠責 and 任意保険 renewal reminders (R32, R34) and the 自賠責 cover-gap check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from outreach.candidates import stages
from outreach.candidates.calendar import add_months
from outreach.candidates.facts import Candidate, PolicyFacts, Window
from outreach.candidates.rules import Rules
from outreach.clock import jst_midnight

JIBAISEKI_ENDS_AT = dt.time(12, 0)  # 自賠責 ends at noon; the 車検 runs to midnight (R32)


def recipient(p: PolicyFacts) -> int | None:
    """自賠責 follows the vehicle: its user (使用者). 任意保険: the policyholder."""
    if p.kind == "jibaiseki" and p.vehicle_user_id is not None:
        return p.vehicle_user_id
    return p.customer_id


def candidate(p: PolicyFacts, rules: Rules, window: Window) -> Candidate | None:
    rule = rules.kinds.get(p.kind)
    if rule is None or p.renewed:
        return None
    if p.vehicle_status is not None and p.vehicle_status != "owned":
        return None  # the vehicle was sold or scrapped: the cycle has ended
    customer = recipient(p)
    if customer is None:
        return None
    return stages.candidate(
        p.kind,
        rules,
        p.expires_on,
        window,
        customer,
        vehicle_id=p.vehicle_id,
        policy_id=p.id,
        insurer=p.insurer,
    )


def renewed_by(p: PolicyFacts, others: Iterable[PolicyFacts]) -> bool:
    """Whether one of `others` is the renewal of `p`, which ends the old cycle.

    A renewal is a policy of the same kind that expires later and covers the same vehicle; for
    a policy naming no vehicle, the same customer and insurer, starting around the old expiry
    (from 2 months before to the day after; without a start date: expiring 6–18 months later).
    """
    for o in others:
        if o.id == p.id or o.kind != p.kind or o.expires_on <= p.expires_on:
            continue
        if p.vehicle_id is not None:
            if o.vehicle_id == p.vehicle_id:
                return True
            continue
        if o.vehicle_id is not None or o.customer_id != p.customer_id or o.insurer != p.insurer:
            continue
        if o.starts_on is not None:
            lo, hi = add_months(p.expires_on, -2), p.expires_on + dt.timedelta(days=1)
            if lo <= o.starts_on <= hi:
                return True
        elif add_months(p.expires_on, 6) <= o.expires_on <= add_months(p.expires_on, 18):
            return True
    return False


def jibaiseki_gap(shaken_expiry_on: dt.date, jibaiseki_expires_at: dt.datetime) -> bool:
    """True when the 自賠責 cover ends before the 車検 it must cover does (R32).

    The 車検 is valid to the end (24:00 JST) of its expiry date; a policy ending at noon that
    day, or earlier, leaves a gap."""
    return jibaiseki_expires_at < jst_midnight(shaken_expiry_on + dt.timedelta(days=1))
