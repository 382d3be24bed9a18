"""The gate's value types: what is asked (`Request`), what is answered (`Decision`) and the
`Permit` that the outbox and the sender demand.

A `Permit` can only be made by the gate (it needs the module-private `_GATE_KEY`), and only
from an allowed decision; it names the exact customer, purpose, channel and item set it
covers, so a permit for one send cannot be spent on another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from outreach.errors import GateRefused

CHANNELS = ("email", "post", "phone", "visit", "sms")


@dataclass(frozen=True, slots=True)
class Request:
    """One intended use of a customer's data."""

    purpose: str
    channel: str
    items: frozenset[str] = frozenset()  # data items the message or filter uses
    advertising: bool | None = None  # None = unclassified template: cannot be sent (R14)
    kind: str | None = None  # reminder kind (shaken, inspection, jibaiseki, nini) or "campaign"
    campaign_id: int | None = None
    insurer: str | None = None  # the insurer whose product the message is about (purpose 8, R6)
    data_insurer: str | None = None  # the insurer partition of the policy data used (R6)
    data_held_as_processor: bool = False  # that data is held as the insurer's 委託先 (R6)
    vehicle_status: str | None = None  # the vehicle a reminder is about: owned|sold|scrapped
    # What a (3) message is about, one of the purpose's `topics` (purposes.toml); None for a
    # campaign means "campaigns". Joint-use data serves only the topics joint-use ① names.
    topic: str | None = None


@dataclass(frozen=True)
class Decision:
    """Allowed or not, with every reason that applies (not just the first).

    No `slots`, so the gate's hot loop can build one by filling its dict (`rules.decide`).
    """

    customer_id: int
    request: Request
    allowed: bool
    reasons: tuple[str, ...]
    policy_version: int
    decided_at: dt.datetime
    deferred_until: dt.datetime | None = None  # OUTSIDE_SEND_WINDOW: the next allowed time

    @property
    def deferred(self) -> bool:
        return self.deferred_until is not None and not self.allowed


_GATE_KEY = object()  # only outreach.gate modules use it


@dataclass(frozen=True, slots=True)
class Permit:
    """Proof that the gate allowed exactly this send. Demanded by outbox and sender."""

    customer_id: int
    purpose: str
    channel: str
    items: frozenset[str]
    policy_version: int
    decided_at: dt.datetime
    decision_id: int | None = None
    _key: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _GATE_KEY:
            raise GateRefused("a Permit can only be issued by the gate")

    def covers(self, customer_id: int, purpose: str, channel: str, items: frozenset[str]) -> bool:
        return (
            customer_id == self.customer_id
            and purpose == self.purpose
            and channel == self.channel
            and items <= self.items
        )


def permit_for(decision: Decision, decision_id: int | None = None) -> Permit:
    """Issue the permit of an allowed decision; refuse any other."""
    if not decision.allowed:
        raise GateRefused(
            f"customer {decision.customer_id}: not allowed ({' '.join(decision.reasons)})"
        )
    r = decision.request
    return Permit(
        customer_id=decision.customer_id,
        purpose=r.purpose,
        channel=r.channel,
        items=r.items,
        policy_version=decision.policy_version,
        decided_at=decision.decided_at,
        decision_id=decision_id,
        _key=_GATE_KEY,
    )


def require(
    permit: object, customer_id: int, purpose: str, channel: str, items: frozenset[str]
) -> Permit:
    """The outbox's and sender's check: a real permit for exactly this send, or GateRefused."""
    if not isinstance(permit, Permit) or permit._key is not _GATE_KEY:
        raise GateRefused("no gate decision for this send")
    if not permit.covers(customer_id, purpose, channel, items):
        raise GateRefused(
            f"the permit is for customer {permit.customer_id} / {permit.purpose} / "
            f"{permit.channel}, "
            f"not for customer {customer_id} / {purpose} / {channel}"
        )
    return permit
