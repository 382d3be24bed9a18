"""The pure parts of the staff services: campaign validation against the real purpose
registry (hypothesis properties), roles, and the CSRF origin check."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.staff import csrf, roles, validation
from outreach.staff import rules as rules_mod
from outreach.staff import spec as spec_mod
from outreach.staff.errors import CsrfRejected, Forbidden

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def rules() -> rules_mod.RegistryRules:
    return rules_mod.load(REPO / "config")


def personal_fields() -> list[str]:
    return sorted(f"{top}.{attr}" for top, attr in rules().registry.field_index if attr != "*")


def sending_purposes() -> list[str]:
    return sorted(p.id for p in rules().purposes() if "email" in p.channels)


def spec_using(
    purpose: str, fields: list[str], audience: list[dict[str, object]]
) -> spec_mod.CampaignSpec:
    body = " ".join("{{ " + f + " }}" for f in fields) or "本文"
    return spec_mod.parse(
        {
            "name": "x",
            "purpose": purpose,
            "channels": ["email"],
            "audience": audience,
            "subject_template": "件名",
            "text_template": body,
            "advertising": True,  # a campaign is advertising (the composer adds R19's display)
        }
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_template_is_accepted_exactly_when_its_items_lie_within_the_purpose(
    data: st.DataObject,
) -> None:
    purpose = data.draw(st.sampled_from(sending_purposes()))
    fields = data.draw(st.lists(st.sampled_from(personal_fields()), max_size=4, unique=True))
    problems = validation.check(spec_using(purpose, fields, []), rules())
    items = rules().items_for_fields(fields)
    allowed = rules().purpose(purpose)
    assert allowed is not None
    assert (not problems) == (items <= allowed.items), (purpose, fields, problems)


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
)
def test_a_sensitive_field_is_never_accepted_anywhere(data: st.DataObject, name: str) -> None:
    purpose = data.draw(st.sampled_from(sending_purposes()))
    others = data.draw(
        st.lists(st.sampled_from(sorted(spec_mod.AUDIENCE_FIELDS)), max_size=3, unique=True)
    )
    audience: list[dict[str, object]] = [
        {"field": f, "op": "eq", "value": "2026-01-01"} for f in others
    ]
    where = data.draw(st.integers(0, len(audience)))
    sensitive = f"sensitive.{name}"
    in_filter: list[dict[str, object]] = [
        *audience[:where],
        {"field": sensitive, "op": "eq", "value": "x"},
        *audience[where:],
    ]
    for s in (spec_using(purpose, [], in_filter), spec_using(purpose, [sensitive], [])):
        problems = validation.check(s, rules())
        assert any("要配慮" in p.message for p in problems), problems


def test_purposes_without_a_channel_accept_no_campaign() -> None:
    problems = validation.check(spec_using("p5", [], []), rules())
    assert [p.field for p in problems] == ["channels"]


def test_least_privilege_roles() -> None:
    assert roles.allows("marketer", "campaign.write")
    for permission in ("campaign.approve", "customer.read", "customer.request", "user.manage"):
        assert not roles.allows("marketer", permission)
    assert roles.allows("approver", "campaign.approve")
    assert not roles.allows("approver", "campaign.write")
    assert not roles.allows("admin", "campaign.approve")
    assert [r for r in roles.ROLES if roles.allows(r, "user.manage")] == ["admin"]
    with pytest.raises(Forbidden):
        roles.require("marketer", "campaign.approve")


ALLOWED = frozenset({"https://dealer.example.jp", "http://127.0.0.1:8000"})


@pytest.mark.parametrize(
    ("origin", "referer", "ok"),
    [
        ("https://dealer.example.jp", None, True),
        ("HTTPS://DEALER.EXAMPLE.JP", None, True),
        ("https://evil.example", "https://dealer.example.jp/staff/", False),  # Origin wins
        ("null", None, False),
        (None, "https://dealer.example.jp/staff/campaigns/1", True),
        (None, "https://dealer.example.jp.evil.example/x", False),
        (None, None, True),  # no browser headers: the token check still applies
    ],
)
def test_same_origin(origin: str | None, referer: str | None, ok: bool) -> None:
    assert csrf.same_origin(origin, referer, ALLOWED) is ok


def test_the_csrf_token_must_match() -> None:
    csrf.check(expected="abc", submitted="abc", origin=None, referer=None, allowed=ALLOWED)
    for submitted in (None, "", "abd"):
        with pytest.raises(CsrfRejected):
            csrf.check(
                expected="abc", submitted=submitted, origin=None, referer=None, allowed=ALLOWED
            )
