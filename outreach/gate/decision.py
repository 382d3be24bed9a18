"""The gate's value types: what is asked (`Request`), what is answered (`Decision`) and the
`Permit` that the outbox, the composer and every transport demand.

Only the gate makes a Permit, in two locks:

- Sealed constructor: `Permit(...)` is a type error under mypy strict (its one parameter is
  `Never`) and raises GateRefused at run time; `permit_for` builds one without `__init__`.
- Sealed source: `permit_for` accepts only a decision that the gate's rules made
  (`rules.decide` marks it); a `Decision(allowed=True, ...)` written by hand is refused.
- MAC: each permit carries an HMAC-SHA256 over its decision id, customer, purpose, channel,
  items, advertising flag, policy version and time, under a key that lives only in this
  process. `verify` / `require` (the outbox, the composer, the transports) recompute it, so a
  permit copied and edited (`object.__setattr__`) no longer passes (a permit whose fields are
  still the very objects sealed is recognised by identity and not hashed again).

A permit names the exact customer, purpose, channel and item set it covers, so a permit for
one send cannot be spent on another, and the renderer is given only the items it names.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Never

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


# Marks a Decision made by the gate's rules (`rules.decide`); only outreach.gate uses it.
GATE_MARK = object()


@dataclass(frozen=True)
class Decision:
    """Allowed or not, with every reason that applies (not just the first).

    No `slots`, so the gate's hot loop can build one by filling its dict (`rules.decide`),
    which is also where `_by` is set: a decision constructed anywhere else (its `__init__`
    leaves `_by` None) explains itself like any other but never yields a Permit.
    """

    customer_id: int
    request: Request
    allowed: bool
    reasons: tuple[str, ...]
    policy_version: int
    decided_at: dt.datetime
    deferred_until: dt.datetime | None = None  # OUTSIDE_SEND_WINDOW: the next allowed time
    _by: object = field(default=None, init=False, repr=False, compare=False)

    @property
    def deferred(self) -> bool:
        return self.deferred_until is not None and not self.allowed

    @property
    def by_gate(self) -> bool:
        return self._by is GATE_MARK


_key: bytes | None = None


def _mac_key() -> bytes:
    # Made on first use (nothing at import), never stored or logged: a permit is valid only
    # in the process whose gate issued it.
    global _key
    if _key is None:
        _key = secrets.token_bytes(32)
    return _key


_ITEMS_TEXT: dict[frozenset[str], str] = {}


def _items_text(items: frozenset[str]) -> str:
    text = _ITEMS_TEXT.get(items)
    if text is None:
        if len(_ITEMS_TEXT) > 4096:
            _ITEMS_TEXT.clear()
        text = _ITEMS_TEXT[items] = ",".join(sorted(items))
    return text


def _mac(
    decision_id: int | None,
    customer_id: int,
    purpose: str,
    channel: str,
    items: frozenset[str],
    advertising: bool,
    policy_version: int,
    decided_at: dt.datetime,
) -> bytes:
    payload = "\x1f".join(
        (
            str(decision_id),
            str(customer_id),
            purpose,
            channel,
            _items_text(items),
            "1" if advertising else "0",
            str(policy_version),
            decided_at.isoformat(),
        )
    )
    return hmac.digest(_mac_key(), payload.encode(), "sha256")


@dataclass(frozen=True, slots=True, init=False)
class Permit:
    """Proof that the gate allowed exactly this send. Demanded by outbox, composer, sender.

    `advertising` is the gate's classification of the send (R14): the composer adds the
    legally required sender display (R19) whenever it is true.
    """

    customer_id: int
    purpose: str
    channel: str
    items: frozenset[str]
    advertising: bool
    policy_version: int
    decided_at: dt.datetime
    decision_id: int | None
    mac: bytes = field(repr=False, compare=False)

    def __new__(cls, *args: object, **kwargs: object) -> Permit:
        raise GateRefused("a Permit can only be issued by the gate (decision.permit_for)")

    def __init__(self, sealed: Never, /) -> None:  # the type checker's view: no call fits
        raise GateRefused("a Permit can only be issued by the gate (decision.permit_for)")

    def covers(self, customer_id: int, purpose: str, channel: str, items: frozenset[str]) -> bool:
        return (
            customer_id == self.customer_id
            and purpose == self.purpose
            and channel == self.channel
            and items <= self.items
        )


_new = object.__new__
_set = object.__setattr__


def permit_for(decision: Decision, decision_id: int | None = None) -> Permit:
    """Issue the permit of an allowed decision made by the gate's rules; refuse any other."""
    if decision._by is not GATE_MARK:
        raise GateRefused(f"customer {decision.customer_id}: not a decision of the gate")
    if not decision.allowed:
        raise GateRefused(
            f"customer {decision.customer_id}: not allowed ({' '.join(decision.reasons)})"
        )
    r = decision.request
    advertising = bool(r.advertising)
    p = _new(Permit)
    values = (
        ("customer_id", decision.customer_id),
        ("purpose", r.purpose),
        ("channel", r.channel),
        ("items", r.items),
        ("advertising", advertising),
        ("policy_version", decision.policy_version),
        ("decided_at", decision.decided_at),
        ("decision_id", decision_id),
    )
    for name, value in values:
        _set(p, name, value)
    _set(
        p,
        "mac",
        _mac(
            decision_id,
            decision.customer_id,
            r.purpose,
            r.channel,
            r.items,
            advertising,
            decision.policy_version,
            decision.decided_at,
        ),
    )
    _remember(p)  # sealed here from the decision: its first check at a door is the memo's
    return p


# Permits already checked in this process. A permit passes the doors of one send several
# times (outbox, composer, pipeline, transport); each door still checks, but a permit object
# whose fields are the very objects that were verified (compared by identity, not equality)
# is not hashed again. A shell, an edited copy or a field replaced with `object.__setattr__`
# (even by an equal value) misses here and takes the full check: the memo only ever answers
# what the HMAC answered for exactly these objects.
_VERIFIED: dict[int, tuple[object, ...]] = {}
_VERIFIED_MAX = 16_384


def _fields(permit: Permit) -> tuple[object, ...]:
    return (
        permit,
        permit.mac,
        permit.decision_id,
        permit.customer_id,
        permit.purpose,
        permit.channel,
        permit.items,
        permit.advertising,
        permit.policy_version,
        permit.decided_at,
    )


def verify(permit: object) -> Permit:
    """A genuine, unaltered permit of this process's gate, or GateRefused."""
    if not isinstance(permit, Permit):
        raise GateRefused("no gate decision for this send")
    try:
        seen = _VERIFIED.get(id(permit))
        if (
            seen is not None
            and seen[0] is permit
            and seen[1] is permit.mac
            and seen[2] is permit.decision_id
            and seen[3] is permit.customer_id
            and seen[4] is permit.purpose
            and seen[5] is permit.channel
            and seen[6] is permit.items
            and seen[7] is permit.advertising
            and seen[8] is permit.policy_version
            and seen[9] is permit.decided_at
        ):
            return permit
        expected = _mac(
            permit.decision_id,
            permit.customer_id,
            permit.purpose,
            permit.channel,
            permit.items,
            permit.advertising,
            permit.policy_version,
            permit.decided_at,
        )
        genuine = hmac.compare_digest(permit.mac, expected)
    except (AttributeError, TypeError):  # a Permit shell made with object.__new__
        genuine = False
    if not genuine:
        raise GateRefused("no gate decision for this send (the permit's seal does not match)")
    _remember(permit)
    return permit


def _remember(permit: Permit) -> None:
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    # The entry holds the permit itself, so its id is not reused while the entry lives.
    _VERIFIED[id(permit)] = _fields(permit)


def require(
    permit: object, customer_id: int, purpose: str, channel: str, items: frozenset[str]
) -> Permit:
    """The outbox's and sender's check: a real permit for exactly this send, or GateRefused."""
    p = verify(permit)
    if not p.covers(customer_id, purpose, channel, items):
        raise GateRefused(
            f"the permit is for customer {p.customer_id} / {p.purpose} / "
            f"{p.channel}, "
            f"not for customer {customer_id} / {purpose} / {channel}"
        )
    return p
