"""The call list: phone reminders and phone campaigns to work, per store and per day, and the
outcome of each call written back in one transaction.

A phone entry is queued on the outbox like any other channel; the gate set its `not_before`
to the first time a call is allowed (phone hours, national holidays, the serving store's
closing days). So the list of day D is the queued phone entries whose `not_before` falls on
D in Asia/Tokyo: a call deferred past a closing day is on the next open day's list, with
that date, and on no other. Entries of earlier days still open are shown apart, as carried
over, never again as the day's own calls.

Outcomes:
- reached / declined: the call is done (status `called`);
- booked (date): done, the vehicle's booking is recorded (a service event), and every later
  stage of that cycle still queued on any channel is cancelled;
- call back (date): stays queued, for the first allowed time on or after that date;
- wrong number: the customer's phone is marked unreachable and their open calls cancelled;
- opt-out by phone / cessation request: into the consent ledger through the customer
  service (with its audit row and, for a cessation, the Art. 35 request), and every queued
  post or phone entry the gate now refuses is suppressed.

The package: `lists` (whom to call on a day, and the counts), `outcomes` (writing a call's
outcome back). Every name is re-exported here.
"""

from outreach.calls.lists import (
    CALLED,
    KIND_LABELS,
    NEEDS_DATE,
    OB,
    OUTCOMES,
    SERVICES,
    Attempt,
    Call,
    carried_over,
    counts_by_day,
    day_list,
    stores,
)
from outreach.calls.outcomes import recheck, record, request_of

__all__ = [
    "CALLED",
    "KIND_LABELS",
    "NEEDS_DATE",
    "OB",
    "OUTCOMES",
    "SERVICES",
    "Attempt",
    "Call",
    "carried_over",
    "counts_by_day",
    "day_list",
    "recheck",
    "record",
    "request_of",
    "stores",
]
