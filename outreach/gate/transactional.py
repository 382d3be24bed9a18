"""Permits for transactional mail that a person asked for and that uses no customer record:
the confirmation of a sign-up (double opt-in, R16) goes to the address that asked, which may
belong to no customer yet. Not advertising, no purpose of the registry, no item but the
address itself; still a Permit, so it passes the same door as every other send (the
transports take nothing else). Issued here, in the gate, and nowhere else.
"""

from __future__ import annotations

import datetime as dt

from outreach.gate.decision import GATE_MARK, Decision, Permit, Request, permit_for

CONFIRMATION = "confirmation"  # the pseudo-purpose of a requested transactional mail
NO_CUSTOMER = 0


def confirmation_permit(now: dt.datetime) -> Permit:
    """The permit of one sign-up confirmation mail."""
    d = object.__new__(Decision)
    d.__dict__.update(
        customer_id=NO_CUSTOMER,
        request=Request(CONFIRMATION, "email", frozenset({"email"}), advertising=False),
        allowed=True,
        reasons=(),
        policy_version=0,
        decided_at=now,
        deferred_until=None,
        _by=GATE_MARK,
    )
    return permit_for(d)
