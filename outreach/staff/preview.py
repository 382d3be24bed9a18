"""A campaign's preview before approval and scheduling: audience size, how many the gate
allows, the count for each reason code (through the gate's batch path, as the real send will
decide), and three sample messages rendered for allowed customers.

Nothing is persisted except the audit rows for the sample customers whose data staff see (R11).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import labels
from outreach.db.models import Campaign, Customer, InsurancePolicy, Store, Vehicle
from outreach.errors import OutreachError
from outreach.gate import batch, decision, purposes, reasons
from outreach.gate import rules as gate_rules
from outreach.gate import window as window_mod
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.render import compose, context, environment, templates
from outreach.render import dealer as dealer_mod
from outreach.staff import audience, audit, campaigns, validation

SAMPLES = 3
SAMPLE_POOL = 60  # audience members examined to find the sample customers
_HIDDEN = {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"}


@dataclass(frozen=True)
class ChannelCounts:
    """One channel's counts at the send time. `primary` counts each person once, under the
    first reason that stops them (the window reason only for the deferred), so allowed +
    the primary rows + deferred = audience; `reasons` counts every reason each person has."""

    channel: str
    audience: int
    allowed: int
    denied: int
    deferred: int
    reasons: dict[str, int]
    primary: dict[str, int] = field(default_factory=dict)

    def reason_rows(self) -> list[dict[str, Any]]:
        """The table staff read: one row per outcome, adding up to the audience."""
        out = [{"code": "ALLOWED", "label": "送信できる", "count": self.allowed}]
        for code, n in sorted(self.primary.items(), key=lambda kv: (-kv[1], kv[0])):
            if code == reasons.OUTSIDE_SEND_WINDOW:
                continue
            out.append({"code": code, "label": labels.label("reason", code), "count": n})
        if self.deferred:
            out.append(
                {
                    "code": reasons.OUTSIDE_SEND_WINDOW,
                    "label": "延期（送信時間帯外、次の時間帯に送信）",
                    "count": self.deferred,
                }
            )
        return out

    def all_reason_rows(self) -> list[dict[str, Any]]:
        """Every reason with how many people it concerns (a person may have several)."""
        return [
            {"code": code, "label": labels.label("reason", code), "count": n}
            for code, n in self.reasons.items()
        ]


@dataclass(frozen=True)
class Sample:
    customer_id: int
    to_address: str | None
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Preview:
    campaign_id: int
    version: int
    items: list[str]
    channels: list[ChannelCounts]
    samples: list[Sample]
    sample_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    at: dt.datetime | None = None  # the send time the gate decided for

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "version": self.version,
            "at": self.at.isoformat() if self.at else None,
            "items": self.items,
            "channels": [
                {
                    "channel": c.channel,
                    "audience": c.audience,
                    "allowed": c.allowed,
                    "denied": c.denied,
                    "deferred": c.deferred,
                    "rows": c.reason_rows(),
                    "reasons": c.all_reason_rows(),
                }
                for c in self.channels
            ],
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "sample_errors": self.sample_errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Kit:
    """What rendering samples needs: the one composer's render step, the template includes
    and the public address."""

    mail: compose.MailRenderer
    read_include: Callable[[str], str]
    base_url: str

    @property
    def renderer(self) -> environment.Renderer:
        return self.mail.renderer

    @property
    def dealer(self) -> SimpleNamespace:
        return self.mail.dealer.view()


def kit(
    templates_dir: Path,
    config_dir: Path,
    base_url: str,
    dealer_file: Path | None = None,
    *,
    registry: purposes.Registry | None = None,
    dealer: dealer_mod.Dealer | None = None,
) -> Kit:
    """The preview kit; `registry` and `dealer` from the App's policy (else read from files)."""
    mail_dir = templates_dir / "mail"
    return Kit(
        mail=compose.MailRenderer(
            renderer=environment.Renderer(environment.make(mail_dir)),
            registry=registry or purposes.load(config_dir / "purposes.toml"),
            dealer=dealer or dealer_mod.load(dealer_file or config_dir / "dealer.toml"),
        ),
        read_include=templates.file_loader(mail_dir),
        base_url=base_url.rstrip("/"),
    )


def request_for(c: Campaign, channel: str, items: frozenset[str]) -> Request:
    # A category that is not a purpose category names the campaign's topic (e.g.
    # "store_changes"): joint-use data serves only the topics joint-use ① names.
    topic = c.category if c.category and c.category not in purposes.CATEGORIES else None
    return Request(
        purpose=c.purpose,
        channel=channel,
        items=items,
        advertising=c.advertising,
        kind="campaign",
        campaign_id=c.id,
        topic=topic,
    )


async def preview(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    rules: validation.Rules,
    *,
    now: dt.datetime,
    actor: str,
    sample_kit: Kit | None = None,
    with_samples: bool = True,
    at: dt.datetime | None = None,
) -> Preview:
    """Counts as the gate will decide at the send time `at` (default: the campaign's
    schedule if it lies ahead, else the next time the first channel's window is open), so the
    figures do not depend on the hour staff look at them."""
    started = time.perf_counter()
    s = campaigns.spec_of(c)
    items = validation.used_items(s, rules)
    where = audience.where(s.audience, needs_vehicle=audience.needs_vehicle(items))
    when = send_time(ctx, c, now, at)
    counts = []
    tallies = await _tally_channels(session, ctx, c, items, when, where)
    for channel, tally in zip(c.channels, tallies, strict=True):
        counts.append(
            ChannelCounts(
                channel=channel,
                audience=tally.total,
                allowed=tally.allowed,
                denied=tally.total - tally.allowed - tally.deferred,
                deferred=tally.deferred,
                reasons=dict(tally.reasons.most_common()),
                primary=dict(tally.primary.most_common()),
            )
        )
    samples: list[Sample] = []
    errors: list[str] = []
    if with_samples and sample_kit is not None and c.channels:
        samples, errors = await _samples(session, ctx, c, s.audience, items, when, sample_kit)
        for sample in samples:
            await audit.read(
                session,
                actor=actor,
                customer_id=sample.customer_id,
                what=f"campaign {c.id} preview sample",
                now=now,
            )
    await audit.record(
        session,
        actor=actor,
        action="campaign.preview",
        entity="campaign",
        entity_id=c.id,
        now=now,
        after={
            "version": c.version,
            "counts": {ch.channel: [ch.audience, ch.allowed] for ch in counts},
        },
    )
    return Preview(
        campaign_id=c.id,
        version=c.version,
        items=sorted(items),
        channels=counts,
        samples=samples,
        sample_errors=errors,
        seconds=time.perf_counter() - started,
        at=when,
    )


def send_time(
    ctx: GateContext, c: Campaign, now: dt.datetime, at: dt.datetime | None = None
) -> dt.datetime:
    """The time the preview decides for: `at` if given, else the campaign's schedule when it
    lies ahead, else the next opening of the first channel's send window (now when open)."""
    if at is not None:
        return at
    base = c.schedule_at if c.schedule_at is not None and c.schedule_at > now else now
    w = ctx.policy.windows.get(c.channels[0]) if c.channels else None
    nxt = window_mod.next_allowed(w, frozenset(), base)
    return nxt if nxt is not None else base


@dataclass
class _Tally:
    total: int = 0
    allowed: int = 0
    deferred: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    primary: Counter[str] = field(default_factory=Counter)


async def _tally_channels(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    items: frozenset[str],
    now: dt.datetime,
    where: list[Any],
) -> list[_Tally]:
    """The gate's batch path (as `gate audit` and the real send) for every channel over one
    load of the states; each person counted once under their first reason, too."""
    requests = [request_for(c, ch, items) for ch in c.channels]
    plans = [gate_rules.plan(ctx, req) for req in requests]
    tallies = [_Tally() for _ in requests]
    decide = gate_rules.decide_planned
    window = reasons.OUTSIDE_SEND_WINDOW
    with batch.gc_paused():
        async for states in batch.iter_states(session, ctx, now, where=where, prefetch=True):
            for req, plan, tally in zip(requests, plans, tallies, strict=True):
                primary, every = tally.primary, tally.reasons
                for st in states:
                    d = decide(ctx, plan, st, req, now)
                    tally.total += 1
                    if d.allowed:
                        tally.allowed += 1
                        continue
                    if d.deferred_until is not None:
                        tally.deferred += 1
                        primary[window] += 1
                    else:
                        primary[d.reasons[0]] += 1
                    every.update(d.reasons)
    return tallies


def _row(obj: Any, table: Table) -> dict[str, Any]:
    return {col.key: getattr(obj, col.key) for col in table.c if col.key not in _HIDDEN}


async def _samples(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    conditions: list[Any],
    items: frozenset[str],
    now: dt.datetime,
    k: Kit,
) -> tuple[list[Sample], list[str]]:
    q = select(Customer).where(*audience.where(conditions)).order_by(Customer.id).limit(SAMPLE_POOL)
    pool = list((await session.scalars(q)).all())
    req = request_for(c, c.channels[0], items)
    decisions = await batch.decide_for(session, ctx, [(p.id, req) for p in pool], now)
    chosen = [(p, d) for p, d in zip(pool, decisions, strict=True) if d.allowed][:SAMPLES]
    out: list[Sample] = []
    errors: list[str] = []
    if not chosen:
        return out, errors
    # The one composer's render step (render.compose), as the worker renders the mail: the
    # context holds only what each sample's permit grants, plus the sender display.
    try:
        tmpl = compose.campaign_template(
            f"campaign:{c.id}:v{c.version}",
            _campaign_row(c),
            c.version,
            k.mail.registry,
            k.read_include,
        )
    except OutreachError as e:
        return out, [f"テンプレート: {e}"]
    for cust, d in chosen:
        data = await message_data(session, c, cust, conditions)
        links = context.Links(
            id=f"preview-{c.id}-{cust.id}",
            message_id=f"<preview-{c.id}-{cust.id}@preview.invalid>",
            optout_url=f"{k.base_url}/u/（プレビュー：送信時に発行されます）",
            preferences_url=f"{k.base_url}/preferences/（プレビュー）",
            advertising=bool(c.advertising),
        )
        try:
            rendered = k.mail.render(
                tmpl, decision.permit_for(d), {**data, "campaign": _campaign_row(c)}, links
            )
            out.append(
                Sample(
                    customer_id=cust.id,
                    to_address=cust.email,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html or "",
                )
            )
        except Exception as e:  # a template fault is shown to staff, not raised
            errors.append(f"顧客 {cust.id}: {e}")
    return out, errors


def _campaign_row(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "purpose": c.purpose,
        "category": c.category,
        "schedule_at": c.schedule_at,
        "advertising": c.advertising,
        "subject_template": c.subject_template,
        "text_template": c.text_template,
        "html_template": c.html_template,
    }


async def message_data(
    session: AsyncSession, c: Campaign, cust: Customer, conditions: list[Any]
) -> dict[str, Mapping[str, Any] | None]:
    """The template data of one customer: their record, the vehicle and policy the audience
    filter matched (the first, if several), and their store."""
    vehicle = await session.scalar(
        select(Vehicle)
        .where(Vehicle.user_id == cust.id, audience.vehicle_where(conditions))
        .order_by(Vehicle.id)
        .limit(1)
    )
    policy = await session.scalar(
        select(InsurancePolicy)
        .where(InsurancePolicy.customer_id == cust.id, audience.policy_where(conditions))
        .order_by(InsurancePolicy.id)
        .limit(1)
    )
    store = await session.get(Store, cust.store_id) if cust.store_id is not None else None
    return {
        "customer": _row(cust, Customer.__table__),  # type: ignore[arg-type]
        "vehicle": _row(vehicle, Vehicle.__table__) if vehicle else None,  # type: ignore[arg-type]
        "policy": _row(policy, InsurancePolicy.__table__) if policy else None,  # type: ignore[arg-type]
        "store": _row(store, Store.__table__) if store else None,  # type: ignore[arg-type]
    }
