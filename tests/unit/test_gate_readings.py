"""The registry's reading of the privacy policy (purposes.toml READING/CORRECTED entries):
each one allows what the text supports and denies what it does not, and `interpretations`
names the reading that bears on a case."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from outreach.clock import JST
from outreach.gate import reasons as R
from outreach.gate import rules
from outreach.gate.context import GateContext, load_context
from outreach.gate.decision import Request
from outreach.gate.state import CustomerState
from outreach.records import fields

CONFIG = Path(__file__).resolve().parents[2] / "config"
TUE_10 = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def ctx() -> GateContext:
    return load_context(CONFIG)


def state(**kw: object) -> CustomerState:
    base: dict[str, object] = dict(
        customer_id=1,
        notice_version=2,
        email="taro@example.jp",
        email_basis="opt_in",
        email_basis_id=1,
        has_postal=True,
        has_phone=True,
    )
    base.update(kw)
    return CustomerState(**base)  # type: ignore[arg-type]


def reasons_of(ctx: GateContext, s: CustomerState, r: Request) -> tuple[str, ...]:
    return rules.decide(ctx, s, r, TUE_10).reasons


P7 = Request(purpose="p7", channel="post", items=frozenset({"name", "address"}), advertising=True)
P8 = Request(
    purpose="p8",
    channel="post",
    items=frozenset({"name", "address"}),
    advertising=True,
    insurer="tokio_marine",
)


@pytest.mark.parametrize("proposal", [P7, P8], ids=["p7", "p8"])
@pytest.mark.parametrize("channel", ["post", "phone", "email"])
def test_proposals_under_7_and_8_by_post_phone_and_email(
    ctx: GateContext, proposal: Request, channel: str
) -> None:
    r = dataclasses.replace(proposal, channel=channel)
    assert rules.decide(ctx, state(), r, TUE_10).allowed
    assert "proposal_channels" in rules.interpretations(ctx, state(), r)


@pytest.mark.parametrize("proposal", [P7, P8], ids=["p7", "p8"])
@pytest.mark.parametrize("channel", ["visit", "sms"])
def test_proposals_never_by_visit_or_sms(ctx: GateContext, proposal: Request, channel: str) -> None:
    r = dataclasses.replace(proposal, channel=channel)
    assert R.CHANNEL_NOT_ALLOWED in reasons_of(ctx, state(), r)


@pytest.mark.parametrize("proposal", [P7, P8], ids=["p7", "p8"])
def test_an_email_proposal_is_advertising_even_if_declared_not(
    ctx: GateContext, proposal: Request
) -> None:
    r = dataclasses.replace(proposal, channel="email", advertising=False)
    assert R.NO_EMAIL_CONSENT in reasons_of(ctx, state(email_basis=None), r)
    assert rules.decide(ctx, state(), r, TUE_10).allowed  # with a basis it goes
    # an opt-out of advertising mail stops it (R18)
    assert R.OPTED_OUT in reasons_of(ctx, state(opt_outs=frozenset({"category:marketing"})), r)
    assert "proposal_email_is_advertising" in rules.interpretations(ctx, state(), r)
    # by post the email basis is not needed
    post = dataclasses.replace(r, channel="post")
    assert rules.decide(ctx, state(email_basis=None), post, TUE_10).allowed


def test_purpose_8_names_one_listed_insurer(ctx: GateContext) -> None:
    for insurer in ("tokio_marine", "aioi_nissay_dowa", "mitsui_sumitomo"):
        assert rules.decide(ctx, state(), dataclasses.replace(P8, insurer=insurer), TUE_10).allowed
    for unnamed in (None, "other", "sompo"):
        r = dataclasses.replace(P8, insurer=unnamed)
        assert R.INSURER_NOT_NAMED in reasons_of(ctx, state(), r)
    assert "insurer_partition" in rules.interpretations(ctx, state(), P8)


def test_purpose_8_data_of_another_insurer_needs_consent_to_that_insurer(
    ctx: GateContext,
) -> None:
    r = dataclasses.replace(
        P8, items=frozenset({"name", "insurance_policy"}), data_insurer="aioi_nissay_dowa"
    )
    assert R.INSURER_PARTITION in reasons_of(ctx, state(), r)
    assert R.INSURER_PARTITION in reasons_of(
        ctx, state(consents=frozenset({"insurer_share:mitsui_sumitomo"})), r
    )
    assert rules.decide(
        ctx, state(consents=frozenset({"insurer_share:tokio_marine"})), r, TUE_10
    ).allowed
    same = dataclasses.replace(r, data_insurer="tokio_marine")
    assert rules.decide(ctx, state(), same, TUE_10).allowed


CAMPAIGN = Request(
    purpose="p3",
    channel="email",
    items=frozenset({"name", "vehicle"}),
    advertising=True,
    kind="campaign",
    campaign_id=7,
)
TOYOTA = state(acquisition="joint_use", joint_use_partner="トヨタ自動車株式会社")


@pytest.mark.parametrize("topic", [None, "products", "services", "events", "campaigns"])
def test_joint_use_data_serves_purpose_1_topics(ctx: GateContext, topic: str | None) -> None:
    r = dataclasses.replace(CAMPAIGN, topic=topic)
    assert rules.decide(ctx, TOYOTA, r, TUE_10).allowed


@pytest.mark.parametrize("topic", ["store_changes", "staff_changes"])
def test_joint_use_data_not_for_store_moves_or_staff_changes(ctx: GateContext, topic: str) -> None:
    r = dataclasses.replace(CAMPAIGN, topic=topic)
    assert R.JOINT_USE_SCOPE in reasons_of(ctx, TOYOTA, r)
    assert rules.decide(ctx, state(), r, TUE_10).allowed  # the dealer's own data: (3) covers it
    assert "joint_use_purpose_1_topics" in rules.interpretations(ctx, TOYOTA, r)


@pytest.mark.parametrize(
    ("partner", "source", "in_scope"),
    [
        ("トヨタ自動車株式会社", None, True),  # the 共同利用会社 group: any source
        ("トヨタメトロジック株式会社", None, True),
        ("レクサス小石川販売株式会社", "lexus_tokyo", True),
        ("レクサス小石川販売株式会社", None, False),  # not obtained via LEXUS TOKYO
        ("トヨタモビリティ東京株式会社", None, False),
        ("トヨタモビリティ東京株式会社", "lexus_tokyo", True),
        ("トヨタメトロジック株式会社", "lexus_tokyo", True),
        ("無関係商事株式会社", "lexus_tokyo", False),
    ],
)
def test_joint_use_scope_per_acquisition_source(
    ctx: GateContext, partner: str, source: str | None, in_scope: bool
) -> None:
    s = state(acquisition="joint_use", joint_use_partner=partner, acquisition_source=source)
    assert (R.JOINT_USE_SCOPE not in reasons_of(ctx, s, CAMPAIGN)) is in_scope
    if partner.startswith("レクサス"):
        assert "joint_use_source" in rules.interpretations(ctx, s, CAMPAIGN)


def test_purpose_3_may_use_the_inspection_certificate(ctx: GateContext) -> None:
    r = dataclasses.replace(CAMPAIGN, items=frozenset({"name", "inspection_certificate"}))
    assert rules.decide(ctx, state(), r, TUE_10).allowed
    assert "p3_inspection_certificate" in rules.interpretations(ctx, state(), r)
    # (4) surveys still may not
    survey = dataclasses.replace(r, purpose="p4")
    assert R.DATA_ITEM_NOT_ALLOWED in reasons_of(ctx, state(), survey)


def test_last_visit_is_not_a_joint_use_item(ctx: GateContext) -> None:
    reg = ctx.registry
    assert reg.items_for_fields({"customer.last_visit_on"}) == {"visit_history"}
    assert "visit_history" not in reg.joint_use_items
    assert reg.items_for_fields({"customer.customer_since"}) == {"transaction"}
    assert reg.items["transaction"].joint_use == "⑥"
    r = dataclasses.replace(CAMPAIGN, items=frozenset({"name", "visit_history"}))
    assert rules.decide(ctx, state(), r, TUE_10).allowed  # the dealer's own data
    assert R.JOINT_USE_SCOPE in reasons_of(ctx, TOYOTA, r)
    assert "visit_history" in rules.interpretations(ctx, TOYOTA, r)


def test_every_interpretation_named_exists_and_quotes_the_policy(ctx: GateContext) -> None:
    seed = Path(__file__).resolve().parents[3] / "shared/seed/privacy-policy.ja.txt"
    for i in ctx.registry.interpretations.values():
        assert i.text and i.quote
        if seed.exists():
            text = seed.read_text(encoding="utf-8")
            for part in i.quote.split(" / "):
                assert part.strip("…") in text, (i.id, part)


def test_the_import_accepts_exactly_the_insurers_the_policy_names(ctx: GateContext) -> None:
    assert tuple(ctx.registry.insurers) == fields.INSURERS
    assert set(fields.ACQUISITION_SOURCES) == {
        g.source for g in ctx.registry.joint_use.groups if g.source
    }


def test_a_campaign_category_that_is_a_topic_reaches_the_gate(ctx: GateContext) -> None:
    from outreach.db.models import Campaign
    from outreach.staff import preview

    moving = Campaign(id=3, purpose="p3", category="store_changes", advertising=True)
    plain = Campaign(id=4, purpose="p3", category="marketing", advertising=True)
    r_moving = preview.request_for(moving, "email", frozenset({"name"}))
    r_plain = preview.request_for(plain, "email", frozenset({"name"}))
    assert r_moving.topic == "store_changes" and r_plain.topic is None
    assert R.JOINT_USE_SCOPE in reasons_of(ctx, TOYOTA, r_moving)
    assert R.JOINT_USE_SCOPE not in reasons_of(ctx, TOYOTA, r_plain)


def test_staff_may_state_a_topic_of_purpose_3_as_the_campaign_category() -> None:
    from outreach.staff import rules as staff_rules
    from outreach.staff import validation
    from outreach.staff.spec import CampaignSpec

    r = staff_rules.load(CONFIG)
    base: dict[str, object] = dict(
        name="移転のお知らせ",
        purpose="p3",
        channels=["post"],
        subject_template="店舗移転のお知らせ",
        text_template="{{ customer.name_kanji }}様",
    )
    ok = CampaignSpec(**{**base, "category": "store_changes"})
    bad = CampaignSpec(**{**base, "category": "gossip"})
    assert not [p for p in validation.check(ok, r) if p.field == "category"]
    assert [p for p in validation.check(bad, r) if p.field == "category"]
