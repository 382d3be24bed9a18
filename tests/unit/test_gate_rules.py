"""The pure decision core: every rule allowing and denying, and its invariants (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.clock import JST
from outreach.gate import reasons as R
from outreach.gate import rules
from outreach.gate.context import GateContext, load_context
from outreach.gate.decision import Decision, Request
from outreach.gate.state import Contact, CustomerState

CONFIG = Path(__file__).resolve().parents[2] / "config"
TUE_10 = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)  # a Tuesday, not a holiday


@pytest.fixture(scope="module")
def ctx() -> GateContext:
    return load_context(CONFIG)


def ok_state(**kw: object) -> CustomerState:
    base: dict[str, object] = dict(
        customer_id=1,
        email="taro@example.jp",
        email_basis="opt_in",
        email_basis_id=1,
        has_postal=True,
        has_phone=True,
    )
    base.update(kw)
    return CustomerState(**base)  # type: ignore[arg-type]


def req(**kw: object) -> Request:
    base: dict[str, object] = dict(
        purpose="p3",
        channel="email",
        items=frozenset({"name", "vehicle"}),
        advertising=True,
        kind="campaign",
        campaign_id=7,
    )
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


def reasons_of(
    ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime = TUE_10
) -> tuple[str, ...]:
    return rules.decide(ctx, state, request, now).reasons


def test_a_clean_request_is_allowed(ctx: GateContext) -> None:
    d = rules.decide(ctx, ok_state(), req(), TUE_10)
    assert d.allowed and d.reasons == ()
    assert d.policy_version == ctx.registry.version
    assert d.decided_at == TUE_10 and d.deferred_until is None
    # built without its __init__ for speed, it is an ordinary, equal, frozen Decision
    fields = {f.name: getattr(d, f.name) for f in dataclasses.fields(Decision) if f.init}
    assert d == Decision(**fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.allowed = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("request_kw", "state_kw", "code"),
    [
        ({"purpose": "p99"}, {}, R.PURPOSE_UNKNOWN),
        ({"purpose": "p2", "channel": "visit"}, {}, R.CHANNEL_NOT_ALLOWED),  # (2) names no 訪問
        ({"channel": "sms"}, {}, R.CHANNEL_NOT_ALLOWED),  # no purpose names SMS
        (
            {"purpose": "p5", "channel": "post", "items": frozenset({"name"})},
            {},
            R.CHANNEL_NOT_ALLOWED,
        ),
        ({"items": frozenset({"name", "insurance_policy"})}, {}, R.DATA_ITEM_NOT_ALLOWED),
        ({"items": frozenset({"name", "no_such_item"})}, {}, R.DATA_ITEM_NOT_ALLOWED),
        ({"items": frozenset({"name", "sensitive"})}, {}, R.SENSITIVE_DATA),
        ({"advertising": None}, {}, R.UNCLASSIFIED_TEMPLATE),
        ({"vehicle_status": "sold"}, {}, R.VEHICLE_INACTIVE),
        ({"vehicle_status": "scrapped"}, {}, R.VEHICLE_INACTIVE),
        ({}, {"opt_outs": frozenset({"all"})}, R.OPTED_OUT),
        ({}, {"opt_outs": frozenset({"purpose:p3"})}, R.OPTED_OUT),
        ({}, {"opt_outs": frozenset({"category:marketing"})}, R.OPTED_OUT),
        (  # R18: an advertising reminder (it invites a booking) is advertising mail too
            {"purpose": "p2", "kind": "shaken", "campaign_id": None, "advertising": True},
            {"opt_outs": frozenset({"category:marketing"})},
            R.OPTED_OUT,
        ),
        ({}, {"opt_outs": frozenset({"channel:email"})}, R.OPTED_OUT),
        ({}, {"opt_outs": frozenset({"campaign:7"})}, R.OPTED_OUT),
        (
            {"kind": "shaken", "purpose": "p2", "campaign_id": None},
            {"opt_outs": frozenset({"kind:shaken"})},
            R.OPTED_OUT,
        ),
        ({}, {"use_suspended": True}, R.USE_SUSPENDED),
        ({}, {"email_basis": None}, R.NO_EMAIL_CONSENT),
        ({}, {"email_basis": "guessed"}, R.NO_EMAIL_CONSENT),
        ({}, {"email": None}, R.CONTACT_UNREACHABLE),
        ({}, {"email_suppressed": True}, R.CONTACT_UNREACHABLE),
        ({"channel": "post"}, {"has_postal": False}, R.CONTACT_UNREACHABLE),
        ({"channel": "visit"}, {"has_postal": False}, R.CONTACT_UNREACHABLE),
        ({"channel": "phone"}, {"has_phone": False}, R.CONTACT_UNREACHABLE),
        ({}, {"status": "deceased"}, R.CUSTOMER_INACTIVE),
        ({}, {"status": "closed"}, R.CUSTOMER_INACTIVE),
        ({}, {"acquisition": "joint_use", "joint_use_partner": "どこかの会社"}, R.JOINT_USE_SCOPE),
        ({}, {"acquisition": "joint_use", "joint_use_partner": "lexus_tokyo"}, R.JOINT_USE_SCOPE),
    ],
)
def test_each_rule_denies(
    ctx: GateContext, request_kw: dict[str, object], state_kw: dict[str, object], code: str
) -> None:
    d = rules.decide(ctx, ok_state(**state_kw), req(**request_kw), TUE_10)
    assert not d.allowed
    assert code in d.reasons
    assert R.get(code).ja and R.get(code).en  # every code is explained in both languages


@pytest.mark.parametrize(
    ("request_kw", "state_kw"),
    [
        ({"purpose": "p3", "channel": "visit"}, {}),  # (3) names 訪問
        ({"purpose": "p2", "channel": "post", "kind": "shaken", "campaign_id": None}, {}),
        ({"purpose": "p2", "channel": "phone", "kind": "shaken", "campaign_id": None}, {}),
        ({"items": frozenset({"name", "address", "vehicle", "maintenance"})}, {}),
        ({"vehicle_status": "owned"}, {}),
        ({}, {"opt_outs": frozenset({"purpose:p4", "channel:post", "campaign:8"})}),
        (  # a non-advertising service notice is not covered by a marketing opt-out
            {"purpose": "p2", "kind": "shaken", "campaign_id": None, "advertising": False},
            {"opt_outs": frozenset({"category:marketing"})},
        ),
        ({"advertising": False}, {"email_basis": None}),  # non-advertising needs no basis
        ({"channel": "post"}, {"email": None, "email_basis": None}),
        ({}, {"acquisition": "joint_use", "joint_use_partner": "トヨタ自動車株式会社"}),
        (  # the LEXUS TOKYO joint use: only data obtained via LEXUS TOKYO
            {},
            {
                "acquisition": "joint_use",
                "joint_use_partner": "lexus_tokyo",
                "acquisition_source": "lexus_tokyo",
            },
        ),
        ({}, {"email_basis": "written"}),
        ({}, {"email_basis": "transaction"}),
        ({}, {"email_basis": "published"}),
    ],
)
def test_each_rule_allows(
    ctx: GateContext, request_kw: dict[str, object], state_kw: dict[str, object]
) -> None:
    d = rules.decide(ctx, ok_state(**state_kw), req(**request_kw), TUE_10)
    assert d.allowed, d.reasons


def test_every_reason_is_reported_not_only_the_first(ctx: GateContext) -> None:
    got = reasons_of(
        ctx,
        ok_state(
            status="deceased", use_suspended=True, opt_outs=frozenset({"all"}), has_postal=False
        ),
        req(purpose="p2", channel="visit", items=frozenset({"sensitive"}), advertising=None),
    )
    assert set(got) >= {
        R.CHANNEL_NOT_ALLOWED,
        R.DATA_ITEM_NOT_ALLOWED,
        R.SENSITIVE_DATA,
        R.UNCLASSIFIED_TEMPLATE,
        R.OPTED_OUT,
        R.USE_SUSPENDED,
        R.CONTACT_UNREACHABLE,
        R.CUSTOMER_INACTIVE,
    }


# --- R2: a purpose added later -------------------------------------------------------------


def with_purpose(ctx: GateContext, pid: str, **changes: object) -> GateContext:
    reg = ctx.registry
    p = dataclasses.replace(reg.purposes[pid], **changes)  # type: ignore[arg-type]
    return GateContext(
        registry=dataclasses.replace(reg, purposes={**reg.purposes, pid: p}), policy=ctx.policy
    )


def test_purpose_added_later_needs_consent_when_not_reasonably_related(ctx: GateContext) -> None:
    # (7) is new in version 2 and not reasonably related; give it a channel to isolate R2.
    c = with_purpose(ctx, "p7", channels=frozenset({"post"}))
    r = req(purpose="p7", channel="post", items=frozenset({"name"}), kind=None, campaign_id=None)
    assert R.PURPOSE_NOT_NOTIFIED in reasons_of(c, ok_state(notice_version=1), r)
    assert rules.decide(c, ok_state(notice_version=2), r, TUE_10).allowed
    assert rules.decide(
        c, ok_state(notice_version=1, consents=frozenset({"purpose:p7"})), r, TUE_10
    ).allowed


def test_reasonably_related_purpose_applies_once_published(ctx: GateContext) -> None:
    c = with_purpose(ctx, "p7", channels=frozenset({"post"}), reasonably_related=True)
    r = req(purpose="p7", channel="post", items=frozenset({"name"}), kind=None, campaign_id=None)
    published = c.registry.published_on(2)
    assert published is not None
    before = dt.datetime.combine(published, dt.time(12), tzinfo=JST) - dt.timedelta(days=1)
    after = dt.datetime.combine(published, dt.time(12), tzinfo=JST)
    assert R.PURPOSE_NOT_NOTIFIED in reasons_of(c, ok_state(notice_version=1), r, before)
    assert R.PURPOSE_NOT_NOTIFIED not in reasons_of(c, ok_state(notice_version=1), r, after)


# --- R4 joint use, R6 insurer partitions ----------------------------------------------------


def test_joint_use_limits_purposes_and_items(ctx: GateContext) -> None:
    jt = ok_state(acquisition="joint_use", joint_use_partner="トヨタ自動車株式会社")
    # (2) is not among the joint-use purposes ①–③
    assert R.JOINT_USE_SCOPE in reasons_of(
        ctx, jt, req(purpose="p2", kind="shaken", campaign_id=None)
    )
    # survey (4) is joint-use purpose ②
    assert R.JOINT_USE_SCOPE not in reasons_of(ctx, jt, req(purpose="p4"))
    # the insurance policy is not a joint-use item ①–⑧
    r8 = req(purpose="p2", items=frozenset({"insurance_policy"}), kind="nini", campaign_id=None)
    assert R.JOINT_USE_SCOPE in reasons_of(ctx, jt, r8)
    assert R.JOINT_USE_SCOPE not in reasons_of(ctx, ok_state(), r8)


def test_insurer_partition(ctx: GateContext) -> None:
    renewal = req(
        purpose="p2",
        items=frozenset({"name", "insurance_policy"}),
        kind="nini",
        campaign_id=None,
        insurer="tokio_marine",
        data_insurer="tokio_marine",
    )
    assert rules.decide(ctx, ok_state(), renewal, TUE_10).allowed
    cross = dataclasses.replace(renewal, insurer="aioi_nissay_dowa")
    assert R.INSURER_PARTITION in reasons_of(ctx, ok_state(), cross)
    # consent is per recipient (R5/R6): sharing with Aioi lifts the partition for Aioi only
    aioi = frozenset({"insurer_share:aioi_nissay_dowa"})
    assert rules.decide(ctx, ok_state(consents=aioi), cross, TUE_10).allowed
    ms = dataclasses.replace(renewal, insurer="mitsui_sumitomo")
    assert R.INSURER_PARTITION in reasons_of(ctx, ok_state(consents=aioi), ms)
    # the old undivided consent lifts nothing any more
    assert R.INSURER_PARTITION in reasons_of(
        ctx, ok_state(consents=frozenset({"insurer_share"})), cross
    )
    # a dealer campaign using insurance data needs consent to the dealer's own use
    dealer = req(items=frozenset({"name", "insurance_policy"}), data_insurer="tokio_marine")
    assert R.INSURER_PARTITION in reasons_of(ctx, ok_state(), dealer)
    assert R.INSURER_PARTITION in reasons_of(ctx, ok_state(consents=aioi), dealer)
    to_dealer = frozenset({"insurer_share:dealer"})
    assert R.INSURER_PARTITION not in reasons_of(ctx, ok_state(consents=to_dealer), dealer)
    # data held as the insurer's processor never feeds a dealer campaign, consent or not
    processor = dataclasses.replace(dealer, data_held_as_processor=True)
    assert R.INSURER_PARTITION in reasons_of(ctx, ok_state(consents=to_dealer), processor)


# --- frequency cap ---------------------------------------------------------------------------


def contact(days_ago: float, category: str = "marketing", kind: str | None = "campaign") -> Contact:
    return Contact(at=TUE_10 - dt.timedelta(days=days_ago), category=category, kind=kind)


def test_frequency_cap_on_marketing_contacts(ctx: GateContext) -> None:
    n = ctx.policy.frequency.max_contacts
    under = ok_state(recent=tuple(contact(20 - i) for i in range(n - 1)))
    at_cap = ok_state(recent=tuple(contact(20 - i) for i in range(n)))
    old = ok_state(recent=tuple(contact(40 + i) for i in range(n)))  # outside the window
    assert rules.decide(ctx, under, req(), TUE_10).allowed
    assert R.FREQUENCY_CAP in reasons_of(ctx, at_cap, req())
    assert rules.decide(ctx, old, req(), TUE_10).allowed
    # service notices are not capped
    service = req(purpose="p2", kind="shaken", campaign_id=None)
    assert rules.decide(ctx, at_cap, service, TUE_10).allowed


def test_campaign_held_back_after_a_shaken_reminder(ctx: GateContext) -> None:
    days = ctx.policy.frequency.after_higher_days
    recent = ok_state(recent=(contact(days - 1, "service_notice", "shaken"),))
    older = ok_state(recent=(contact(days + 1, "service_notice", "shaken"),))
    assert R.FREQUENCY_CAP in reasons_of(ctx, recent, req())
    assert rules.decide(ctx, older, req(), TUE_10).allowed
    # a shaken reminder after a campaign is not held back (higher priority)
    shaken = req(purpose="p2", kind="shaken", campaign_id=None)
    assert rules.decide(ctx, ok_state(recent=(contact(1),)), shaken, TUE_10).allowed


# --- send windows ----------------------------------------------------------------------------


def test_email_in_quiet_hours_is_deferred_to_the_morning(ctx: GateContext) -> None:
    late = dt.datetime(2026, 1, 6, 23, 30, tzinfo=JST)
    d = rules.decide(ctx, ok_state(), req(), late)
    assert not d.allowed and d.reasons == (R.OUTSIDE_SEND_WINDOW,)
    assert d.deferred and d.deferred_until == dt.datetime(2026, 1, 7, 8, 0, tzinfo=JST)
    early = dt.datetime(2026, 1, 6, 6, 0, tzinfo=JST)
    assert rules.decide(ctx, ok_state(), req(), early).deferred_until == dt.datetime(
        2026, 1, 6, 8, 0, tzinfo=JST
    )


def test_phone_skips_national_holidays_and_store_closing_days(ctx: GateContext) -> None:
    call = req(channel="phone")
    holiday = dt.datetime(2026, 1, 12, 11, 0, tzinfo=JST)  # 成人の日 (Monday)
    d = rules.decide(ctx, ok_state(), call, holiday)
    assert d.deferred_until == dt.datetime(2026, 1, 13, 10, 0, tzinfo=JST)
    # the store is closed on Tuesdays (ISO 2): from the holiday, skip to Wednesday
    d = rules.decide(ctx, ok_state(closing_weekdays=frozenset({2})), call, holiday)
    assert d.deferred_until == dt.datetime(2026, 1, 14, 10, 0, tzinfo=JST)
    assert rules.decide(ctx, ok_state(closing_weekdays=frozenset({3})), call, TUE_10).allowed
    # by default email honours the store's closing day too (config/gate.toml): next morning
    d = rules.decide(ctx, ok_state(closing_weekdays=frozenset({2})), req(), TUE_10)
    assert d.deferred_until == dt.datetime(2026, 1, 7, 8, 0, tzinfo=JST)
    assert rules.decide(ctx, ok_state(closing_weekdays=frozenset({3})), req(), TUE_10).allowed


def test_a_denied_request_outside_the_window_is_not_a_deferral(ctx: GateContext) -> None:
    late = dt.datetime(2026, 1, 6, 23, 30, tzinfo=JST)
    d = rules.decide(ctx, ok_state(use_suspended=True), req(), late)
    assert set(d.reasons) == {R.USE_SUSPENDED, R.OUTSIDE_SEND_WINDOW}
    assert d.deferred_until is None and not d.deferred


def test_post_has_no_window(ctx: GateContext) -> None:
    assert rules.decide(
        ctx, ok_state(), req(channel="post"), dt.datetime(2026, 1, 1, 3, 0, tzinfo=JST)
    ).allowed


# --- properties ------------------------------------------------------------------------------

SCOPES = [
    "all",
    "purpose:p2",
    "purpose:p3",
    "category:marketing",
    "channel:email",
    "channel:post",
    "campaign:7",
    "kind:shaken",
]
ITEMS = ["name", "address", "email", "vehicle", "maintenance", "insurance_policy", "birth_date"]

states = st.builds(
    CustomerState,
    customer_id=st.integers(1, 10),
    status=st.sampled_from(["active", "active", "deceased"]),
    notice_version=st.sampled_from([1, 2]),
    acquisition=st.sampled_from(["direct", "joint_use"]),
    joint_use_partner=st.sampled_from(
        [None, "トヨタ自動車株式会社", "レクサス小石川販売株式会社", "どこか"]
    ),
    acquisition_source=st.sampled_from([None, "lexus_tokyo"]),
    email=st.sampled_from([None, "a@example.jp"]),
    email_suppressed=st.booleans(),
    email_basis=st.sampled_from([None, "opt_in", "written"]),
    has_postal=st.booleans(),
    has_phone=st.booleans(),
    opt_outs=st.frozensets(st.sampled_from(SCOPES), max_size=2),
    use_suspended=st.booleans(),
    consents=st.frozensets(
        st.sampled_from(["insurer_share:dealer", "insurer_share:mitsui_sumitomo", "purpose:p7"]),
        max_size=2,
    ),
    closing_weekdays=st.frozensets(st.integers(1, 7), max_size=2),
    recent=st.lists(
        st.builds(
            Contact,
            at=st.integers(0, 60 * 24).map(lambda m: TUE_10 - dt.timedelta(minutes=m * 60)),
            category=st.sampled_from(["marketing", "service_notice"]),
            kind=st.sampled_from(["campaign", "shaken", None]),
        ),
        max_size=5,
    ).map(tuple),
)
requests = st.builds(
    Request,
    purpose=st.sampled_from(["p2", "p3", "p4", "p7", "p8", "p99"]),
    channel=st.sampled_from(["email", "post", "phone", "visit", "sms"]),
    items=st.frozensets(st.sampled_from(ITEMS), max_size=3),
    advertising=st.sampled_from([True, False, None]),
    kind=st.sampled_from([None, "shaken", "campaign"]),
    campaign_id=st.sampled_from([None, 7]),
    insurer=st.sampled_from([None, "tokio_marine", "mitsui_sumitomo"]),
    data_insurer=st.sampled_from([None, "tokio_marine"]),
    data_held_as_processor=st.booleans(),
    vehicle_status=st.sampled_from([None, "owned", "sold"]),
    topic=st.sampled_from([None, "events", "store_changes"]),
)
times = st.integers(0, 14 * 24 * 4).map(lambda q: TUE_10 + dt.timedelta(minutes=15 * q))


@settings(max_examples=300, deadline=None)
@given(state=states, request=requests, now=times, scope=st.sampled_from(SCOPES))
def test_an_opt_out_never_turns_a_denial_into_an_allowance(
    ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime, scope: str
) -> None:
    before = rules.decide(ctx, state, request, now)
    after = rules.decide(
        ctx, dataclasses.replace(state, opt_outs=state.opt_outs | {scope}), request, now
    )
    assert not (after.allowed and not before.allowed)
    assert set(before.reasons) - {R.OUTSIDE_SEND_WINDOW} <= set(after.reasons)


@settings(max_examples=300, deadline=None)
@given(state=states, request=requests, now=times)
def test_a_cessation_denies_everything(
    ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime
) -> None:
    after = rules.decide(ctx, dataclasses.replace(state, use_suspended=True), request, now)
    assert not after.allowed and R.USE_SUSPENDED in after.reasons


@settings(max_examples=300, deadline=None)
@given(state=states, request=requests, now=times)
def test_a_sensitive_item_denies_everything(
    ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime
) -> None:
    r = dataclasses.replace(request, items=request.items | {"sensitive"})
    d = rules.decide(ctx, state, r, now)
    assert not d.allowed and R.SENSITIVE_DATA in d.reasons


@settings(max_examples=100, deadline=None)
@given(
    population=st.lists(states, min_size=1, max_size=20),
    request=requests,
    now=times,
    scope=st.sampled_from(SCOPES),
    which=st.integers(0, 19),
)
def test_adding_an_opt_out_never_grows_the_allowed_set(
    ctx: GateContext,
    population: list[CustomerState],
    request: Request,
    now: dt.datetime,
    scope: str,
    which: int,
) -> None:
    people = [dataclasses.replace(s, customer_id=i) for i, s in enumerate(population)]
    allowed = {s.customer_id for s in people if rules.decide(ctx, s, request, now).allowed}
    k = which % len(people)
    people[k] = dataclasses.replace(people[k], opt_outs=people[k].opt_outs | {scope})
    after = {s.customer_id for s in people if rules.decide(ctx, s, request, now).allowed}
    assert after <= allowed


@settings(max_examples=200, deadline=None)
@given(state=states, request=requests, now=times)
def test_a_decision_is_deterministic(
    ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime
) -> None:
    fresh = load_context(CONFIG)  # no shared caches
    assert rules.decide(ctx, state, request, now) == rules.decide(fresh, state, request, now)
    assert rules.decide(ctx, state, request, now) == rules.decide(ctx, state, request, now)
