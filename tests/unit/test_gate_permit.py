"""One door: a Permit is made only by the gate, only from an allowed decision, and covers
exactly one customer, purpose, channel and item set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from outreach.clock import JST
from outreach.errors import GateRefused
from outreach.gate import decision, rules
from outreach.gate.context import load_context
from outreach.gate.decision import Permit, Request
from outreach.gate.state import CustomerState

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)
ITEMS = frozenset({"name", "address"})


def allowed() -> decision.Decision:
    ctx = load_context(CONFIG)
    state = CustomerState(42, has_postal=True)
    d = rules.decide(ctx, state, Request("p3", "post", ITEMS, advertising=True), NOW)
    assert d.allowed
    return d


def test_a_permit_cannot_be_made_outside_the_gate() -> None:
    with pytest.raises(GateRefused):
        Permit(42, "p3", "post", ITEMS, 2, NOW)
    with pytest.raises(GateRefused):
        Permit(42, "p3", "post", ITEMS, 2, NOW, None, object())


def test_a_denied_decision_gives_no_permit() -> None:
    ctx = load_context(CONFIG)
    d = rules.decide(ctx, CustomerState(42), Request("p3", "post", ITEMS, advertising=True), NOW)
    assert not d.allowed
    with pytest.raises(GateRefused, match="CONTACT_UNREACHABLE"):
        decision.permit_for(d)


def test_require_accepts_the_exact_send_and_a_subset_of_items() -> None:
    p = decision.permit_for(allowed(), 99)
    assert decision.require(p, 42, "p3", "post", ITEMS) is p
    assert decision.require(p, 42, "p3", "post", frozenset({"name"})) is p
    assert p.decision_id == 99


@pytest.mark.parametrize(
    ("customer", "purpose", "channel", "items"),
    [
        (43, "p3", "post", ITEMS),  # another customer
        (42, "p2", "post", ITEMS),  # another purpose
        (42, "p3", "email", ITEMS),  # another channel
        (42, "p3", "post", ITEMS | {"birth_date"}),  # more data than decided
    ],
)
def test_require_refuses_a_permit_for_another_send(
    customer: int, purpose: str, channel: str, items: frozenset[str]
) -> None:
    p = decision.permit_for(allowed())
    with pytest.raises(GateRefused):
        decision.require(p, customer, purpose, channel, items)


@pytest.mark.parametrize("fake", [None, "permit", allowed()])
def test_require_refuses_anything_but_a_permit(fake: object) -> None:
    with pytest.raises(GateRefused, match="no gate decision"):
        decision.require(fake, 42, "p3", "post", ITEMS)
