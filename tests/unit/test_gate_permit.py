"""One door: a Permit is made only by the gate, only from an allowed decision of the gate's
rules, carries a seal the sender checks, and covers exactly one customer, purpose, channel
and item set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from outreach.clock import JST
from outreach.errors import GateRefused
from outreach.gate import decision, fake, rules
from outreach.gate.context import load_context
from outreach.gate.decision import Permit, Request
from outreach.gate.state import CustomerState

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)
ITEMS = frozenset({"name", "address"})


def allowed() -> decision.Decision:
    ctx = load_context(CONFIG)
    state = CustomerState(42, has_postal=True)
    d = rules.decide(ctx, state, Request("p3", "post", ITEMS, advertising=True), NOW)
    assert d.allowed
    return d


def test_a_permit_cannot_be_constructed_at_run_time() -> None:
    with pytest.raises(GateRefused):
        Permit(42, "p3", "post", ITEMS, True, 2, NOW, None, b"")  # type: ignore[arg-type,call-arg]
    with pytest.raises(GateRefused):
        Permit()  # type: ignore[call-arg]


def test_constructing_a_permit_is_a_type_error_under_mypy_strict(tmp_path: Path) -> None:
    snippet = tmp_path / "forge.py"
    snippet.write_text(
        "import datetime as dt\n"
        "from outreach.gate.decision import Permit\n"
        'p = Permit(1, "p2", "email", frozenset(), True, 2, dt.datetime.now(dt.UTC), None, b"")\n'
        "q = Permit()\n"
    )
    env = {**os.environ, "MYPYPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'forge.py:3: error: Argument 1 to "Permit" has incompatible type' in r.stdout
    assert 'forge.py:4: error: Too few arguments for "Permit"' in r.stdout


def test_a_hand_made_allowed_decision_gives_no_permit() -> None:
    forged = decision.Decision(
        customer_id=42,
        request=Request("p3", "post", ITEMS, advertising=True),
        allowed=True,
        reasons=(),
        policy_version=2,
        decided_at=NOW,
    )
    with pytest.raises(GateRefused, match="not a decision of the gate"):
        decision.permit_for(forged)
    # A copy of a real decision is a new (unmarked) decision too.
    with pytest.raises(GateRefused, match="not a decision of the gate"):
        decision.permit_for(dataclasses.replace(allowed(), customer_id=43))


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
    assert p.decision_id == 99 and p.advertising


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", 43),
        ("items", ITEMS | {"birth_date"}),
        ("purpose", "p2"),
        ("advertising", False),
        ("decision_id", 7),
    ],
)
def test_an_altered_permit_fails_its_seal(field: str, value: object) -> None:
    p = decision.permit_for(allowed(), 99)
    object.__setattr__(p, field, value)
    with pytest.raises(GateRefused, match="seal"):
        decision.verify(p)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", 43),
        ("items", ITEMS | {"birth_date"}),
        ("advertising", False),
        ("decided_at", NOW + dt.timedelta(days=1)),
        # The same value in another object (a float equal to the id): the seal covers the
        # text of the id, so it fails like any edit.
        ("customer_id", 42.0),
    ],
)
def test_a_permit_altered_after_it_was_verified_fails_its_seal(field: str, value: object) -> None:
    p = decision.permit_for(allowed(), 99)
    for _ in range(2):  # verified (and remembered) before the edit
        assert decision.verify(p) is p
    object.__setattr__(p, field, value)
    with pytest.raises(GateRefused, match="seal"):
        decision.verify(p)
    with pytest.raises(GateRefused, match="seal"):
        decision.require(p, 42, "p3", "post", ITEMS)


def test_an_empty_permit_shell_is_refused() -> None:
    shell = object.__new__(Permit)
    with pytest.raises(GateRefused):
        decision.verify(shell)


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


@pytest.mark.parametrize("fake_permit", [None, "permit", allowed()])
def test_require_refuses_anything_but_a_permit(fake_permit: object) -> None:
    with pytest.raises(GateRefused, match="no gate decision"):
        decision.require(fake_permit, 42, "p3", "post", ITEMS)


def test_the_fake_gate_issues_permits_through_the_real_rules() -> None:
    ctx = load_context(CONFIG)
    gate = fake.FakeGate(ctx, [CustomerState(7, status="active")])  # no address at all
    ad = Request("p3", "email", frozenset({"name"}), advertising=True)
    with pytest.raises(GateRefused, match="CONTACT_UNREACHABLE"):
        gate.permit(7, ad, NOW)
    # The sample customer has an opt-in, but an opt-out from marketing still wins.
    gate.states[8] = fake.sample_state(ctx, 8, opt_outs=frozenset({"category:marketing"}))
    assert not gate.decide_one(8, ad, NOW).allowed
    p = gate.permit(9, ad, NOW)
    assert decision.require(p, 9, "p3", "email", frozenset({"name"})) is p
