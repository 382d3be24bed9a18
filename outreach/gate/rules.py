"""The pure decision core: `decide(ctx, state, request, now) -> Decision`.

No I/O. Everything that depends only on configuration and the request (purpose, channel, item
set, advertising flag) is computed once per distinct request into a `Plan` and cached on the
context; the per-customer part is a handful of comparisons, so a batch of a million customers
asking the same thing costs a few microseconds each.

Every reason that applies is returned, in a fixed order (request-level reasons first, then the
customer's), so a decision is deterministic for the same inputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from outreach.clock import JST
from outreach.gate import reasons as R
from outreach.gate import window as window_mod
from outreach.gate.context import GateContext
from outreach.gate.decision import GATE_MARK, Decision, Request
from outreach.gate.policy import Window
from outreach.gate.state import CustomerState

_CONTACT = {"email": "email", "post": "postal", "visit": "postal", "phone": "phone", "sms": "phone"}
_INACTIVE_VEHICLE = frozenset({"sold", "scrapped"})
_new = object.__new__


@dataclass(frozen=True, slots=True)
class Plan:
    """The request-level half of a decision, derived from configuration alone."""

    static: tuple[str, ...]  # reasons that hold whoever the customer is
    known: bool  # the purpose is in the registry
    since_version: int
    notified_at: dt.datetime | None  # when a later purpose applies to earlier notices
    purpose_consent: str  # the consent scope that lifts PURPOSE_NOT_NOTIFIED
    joint_ok: bool  # purpose, topic and items within the joint-use scope
    insurer_consent: str | None  # the consent scope (per recipient) the insurer data needs
    insurer_forbidden: bool  # processor-held insurer data for a dealer campaign
    optout_scopes: frozenset[str]
    needs_email_basis: bool
    contact: str | None
    capped: bool
    rank: int
    window: Window | None
    # A notice the law requires (purposes.toml [legal]): decided under the legal obligation,
    # so no consent, notice, opt-out or 利用停止 applies; reachability and the window do.
    legal: bool = False


def plan(ctx: GateContext, req: Request) -> Plan:
    cached = ctx.plans.get(req)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    p = _plan(ctx, req)
    if len(ctx.plans) > 10_000:  # a batch asks a handful of distinct things; stay bounded
        ctx.plans.clear()
    ctx.plans[req] = p
    return p


def _plan(ctx: GateContext, req: Request) -> Plan:
    reg, pol = ctx.registry, ctx.policy
    purpose = reg.purposes.get(req.purpose)
    if purpose is None and req.purpose in reg.legal:
        return _legal_plan(ctx, req)
    static: list[str] = []
    category = purpose.category if purpose else "unknown"
    if purpose is None:
        static.append(R.PURPOSE_UNKNOWN)
    elif req.channel not in purpose.channels:
        static.append(R.CHANNEL_NOT_ALLOWED)
    if purpose is not None and not req.items <= purpose.items:
        static.append(R.DATA_ITEM_NOT_ALLOWED)
    if not req.items.isdisjoint(reg.sensitive_items) or any(
        i.startswith("sensitive") for i in req.items
    ):
        static.append(R.SENSITIVE_DATA)
    if req.advertising is None:
        static.append(R.UNCLASSIFIED_TEMPLATE)
    if req.vehicle_status in _INACTIVE_VEHICLE:
        static.append(R.VEHICLE_INACTIVE)
    if purpose is not None and purpose.per_insurer and req.insurer not in purpose.insurers:
        static.append(R.INSURER_NOT_NAMED)  # (8) is partitioned per insurer (R6)

    notified_at = None
    since = purpose.since_version if purpose else 0
    if purpose is not None and purpose.reasonably_related:
        published = reg.published_on(since)
        if published is not None:
            notified_at = dt.datetime.combine(published, dt.time(0), tzinfo=JST)

    partitioned = any(
        (it := reg.items.get(i)) is not None and it.insurer_partitioned for i in req.items
    )
    cross = (
        req.insurer is not None and req.data_insurer is not None and req.insurer != req.data_insurer
    )
    dealer_use = category in pol.insurer_dealer_categories
    # R5/R6: consent is per recipient — the other insurer whose product it is, or the dealer.
    insurer_consent = None
    if partitioned and (cross or dealer_use):
        recipient = req.insurer if cross and not dealer_use else "dealer"
        insurer_consent = f"{pol.insurer_consent_scope}:{recipient}"
    # A proposal by email under (7)/(8) is advertising whatever the template says (R14).
    advertising = req.advertising is True or (
        purpose is not None and purpose.advertising and req.channel == "email"
    )

    scopes = {"all", f"purpose:{req.purpose}", f"category:{category}", f"channel:{req.channel}"}
    if req.kind:
        scopes.add(f"kind:{req.kind}")
    if req.campaign_id is not None:
        scopes.add(f"campaign:{req.campaign_id}")
    if advertising:
        # R18: an opt-out of advertising mail stops ALL advertising mail, whatever its purpose,
        # so an advertising service reminder (one that invites a booking, R14) is covered by
        # "category:marketing" too. Non-advertising service notices are not.
        scopes.add("category:marketing")

    freq = pol.frequency
    return Plan(
        static=tuple(static),
        known=purpose is not None,
        since_version=since,
        notified_at=notified_at,
        purpose_consent=f"purpose:{req.purpose}",
        joint_ok=purpose is not None
        and reg.joint_use.covers_purpose(req.purpose, topic_of(req))
        and req.items <= reg.joint_use_items,
        insurer_consent=insurer_consent,
        insurer_forbidden=partitioned and dealer_use and req.data_held_as_processor,
        optout_scopes=frozenset(scopes),
        needs_email_basis=req.channel == "email" and advertising,
        contact=_CONTACT.get(req.channel),
        capped=category in freq.capped_categories,
        rank=freq.rank(req.kind, category),
        window=pol.windows.get(req.channel),
    )


def _legal_plan(ctx: GateContext, req: Request) -> Plan:
    """The plan of a notice the law requires (法令に基づく場合): the purpose's channels and
    items, never sensitive data, never advertising; nothing the person chose about our own
    use of their data applies, since the law obliges the notice (APPI Art. 26(2))."""
    notice = ctx.registry.legal[req.purpose]
    static: list[str] = []
    if req.channel not in notice.channels:
        static.append(R.CHANNEL_NOT_ALLOWED)
    if not req.items <= notice.items:
        static.append(R.DATA_ITEM_NOT_ALLOWED)
    if not req.items.isdisjoint(ctx.registry.sensitive_items) or any(
        i.startswith("sensitive") for i in req.items
    ):
        static.append(R.SENSITIVE_DATA)
    if req.advertising is not False:
        static.append(R.LEGAL_NOTICE_ADVERTISING)
    return Plan(
        static=tuple(static),
        known=True,
        since_version=0,
        notified_at=None,
        purpose_consent=f"purpose:{req.purpose}",
        joint_ok=True,
        insurer_consent=None,
        insurer_forbidden=False,
        optout_scopes=frozenset(),
        needs_email_basis=False,
        contact=_CONTACT.get(req.channel),
        capped=False,
        rank=0,
        window=ctx.policy.windows.get(req.channel),
        legal=True,
    )


def topic_of(req: Request) -> str | None:
    """What the message is about: its stated topic; a campaign without one is a campaign."""
    if req.topic is not None:
        return req.topic
    return "campaigns" if req.kind == "campaign" else None


def next_allowed(
    ctx: GateContext, channel: str, w: Window, closing: frozenset[int], now: dt.datetime
) -> dt.datetime | None:
    key = (channel, closing, now)
    try:
        return ctx.windows[key]
    except KeyError:
        pass
    if len(ctx.windows) > 50_000:
        ctx.windows.clear()
    value = ctx.windows[key] = window_mod.next_allowed(w, closing, now)
    return value


def _in_scope(ctx: GateContext, partner: str | None, source: str | None) -> bool:
    key = (partner, source)
    try:
        return ctx.partners[key]
    except KeyError:
        ok = ctx.partners[key] = ctx.registry.joint_use.in_scope(partner, source)
        return ok


def _capped(ctx: GateContext, p: Plan, state: CustomerState, now: dt.datetime) -> bool:
    freq = ctx.policy.frequency
    since = now - dt.timedelta(days=freq.window_days)
    higher_since = now - dt.timedelta(days=freq.after_higher_days)
    count = 0
    for c in state.recent:
        if c.at >= since and c.category in freq.capped_categories:
            count += 1
        if c.at >= higher_since and freq.rank(c.kind, c.category) < p.rank:
            return True
    return count >= freq.max_contacts


def decide(ctx: GateContext, state: CustomerState, request: Request, now: dt.datetime) -> Decision:
    """Allowed or not for this customer, with every reason that applies."""
    return decide_planned(ctx, plan(ctx, request), state, request, now)


def decide_planned(
    ctx: GateContext, p: Plan, state: CustomerState, request: Request, now: dt.datetime
) -> Decision:
    """`decide` with the request's plan already at hand (`plan(ctx, request)`): a batch
    asking the same thing of many customers looks the plan up once."""
    reasons = list(p.static)
    if (
        p.known
        and p.since_version > state.notice_version
        and (p.notified_at is None or now < p.notified_at)
        and p.purpose_consent not in state.consents
    ):
        reasons.append(R.PURPOSE_NOT_NOTIFIED)
    if (
        state.acquisition == "joint_use"
        and not p.legal
        and (
            not p.joint_ok or not _in_scope(ctx, state.joint_use_partner, state.acquisition_source)
        )
    ):
        reasons.append(R.JOINT_USE_SCOPE)
    if p.insurer_forbidden or (
        p.insurer_consent is not None and p.insurer_consent not in state.consents
    ):
        reasons.append(R.INSURER_PARTITION)
    if state.opt_outs and not p.optout_scopes.isdisjoint(state.opt_outs):
        reasons.append(R.OPTED_OUT)
    if state.use_suspended and not p.legal:
        reasons.append(R.USE_SUSPENDED)
    if p.needs_email_basis and (
        state.email_basis is None or state.email_basis not in ctx.policy.email_bases
    ):
        reasons.append(R.NO_EMAIL_CONSENT)
    contact = p.contact
    if (
        contact is None
        or (contact == "email" and (not state.email or state.email_suppressed))
        or (contact == "postal" and not state.has_postal)
        or (contact == "phone" and not state.has_phone)
    ):
        reasons.append(R.CONTACT_UNREACHABLE)
    if state.status != "active":
        reasons.append(R.CUSTOMER_INACTIVE)
    if p.capped and state.recent and _capped(ctx, p, state, now):
        reasons.append(R.FREQUENCY_CAP)
    deferred_until = None
    if p.window is not None:
        nxt = next_allowed(ctx, request.channel, p.window, state.closing_weekdays, now)
        if nxt is None or nxt > now:
            if not reasons:
                deferred_until = nxt  # a deferral only when nothing else stands in the way
            reasons.append(R.OUTSIDE_SEND_WINDOW)
    # Decision(...) without its frozen __init__: half the cost, in the loop that runs a
    # million times per audit. The same fields, in the same order.
    d = _new(Decision)
    d.__dict__.update(
        customer_id=state.customer_id,
        request=request,
        allowed=not reasons,
        reasons=tuple(reasons),
        policy_version=ctx.registry.version,
        decided_at=now,
        deferred_until=deferred_until,
        _by=GATE_MARK,
    )
    return d


def interpretations(ctx: GateContext, state: CustomerState, request: Request) -> tuple[str, ...]:
    """The readings of the policy text (purposes.toml [interpretations]) that bear on this
    decision, for `gate explain`. Not on the hot path: explain calls it for one customer."""
    reg = ctx.registry
    purpose = reg.purposes.get(request.purpose)
    if purpose is None:
        return ()
    out: list[str] = []
    if purpose.advertising and request.channel in purpose.channels:
        out.append("proposal_channels")
        if request.channel == "email":
            out.append("proposal_email_is_advertising")
    partitioned = any(
        (it := reg.items.get(i)) is not None and it.insurer_partitioned for i in request.items
    )
    if purpose.per_insurer or partitioned:
        out.append("insurer_partition")
    if state.acquisition == "joint_use":
        if any(jp.purpose == request.purpose and jp.topics for jp in reg.joint_use.purposes):
            out.append("joint_use_purpose_1_topics")
        partner = state.joint_use_partner
        if partner is not None and any(
            g.source is not None and g.names(partner) for g in reg.joint_use.groups
        ):
            out.append("joint_use_source")
        if "visit_history" in request.items:
            out.append("visit_history")
    if "inspection_certificate" in request.items and purpose.category == "marketing":
        out.append("p3_inspection_certificate")
    return tuple(i for i in out if i in reg.interpretations)
