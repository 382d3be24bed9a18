"""A campaign's preview before approval and scheduling: audience size, how many the gate
allows, the count for each reason code (through the gate's batch path, as the real send will
decide), and three sample messages rendered for allowed customers.

Nothing is persisted except the audit rows for the sample customers whose data staff see (R11).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import Campaign, Customer, InsurancePolicy, Store, Vehicle
from outreach.gate import audit as gate_audit
from outreach.gate import batch, purposes, reasons
from outreach.gate import rules as gate_rules
from outreach.gate.context import GateContext
from outreach.gate.decision import Request
from outreach.render import dealer as dealer_mod
from outreach.render import environment
from outreach.staff import audience, audit, campaigns, validation

SAMPLES = 3
SAMPLE_POOL = 60  # audience members examined to find the sample customers
_HIDDEN = {"opt_outs", "use_suspended", "consents", "ledger_seq", "ledger_head"}


@dataclass(frozen=True)
class ChannelCounts:
    channel: str
    audience: int
    allowed: int
    denied: int
    deferred: int
    reasons: dict[str, int]

    def reason_rows(self) -> list[dict[str, Any]]:
        out = []
        for code, n in self.reasons.items():
            try:
                ja = reasons.get(code).ja
            except Exception:
                ja = code
            out.append({"code": code, "label": ja, "count": n})
        return out


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "version": self.version,
            "items": self.items,
            "channels": [
                {
                    "channel": c.channel,
                    "audience": c.audience,
                    "allowed": c.allowed,
                    "denied": c.denied,
                    "deferred": c.deferred,
                    "reasons": c.reason_rows(),
                }
                for c in self.channels
            ],
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "sample_errors": self.sample_errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Kit:
    """What rendering samples needs: the mail sandbox, the dealer and the public address."""

    renderer: environment.Renderer
    dealer: SimpleNamespace
    base_url: str


def kit(templates_dir: Path, config_dir: Path, base_url: str) -> Kit:
    return Kit(
        renderer=environment.Renderer(environment.make(templates_dir / "mail")),
        dealer=dealer_mod.load(config_dir / "dealer.toml").view(),
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
) -> Preview:
    started = time.perf_counter()
    s = campaigns.spec_of(c)
    items = validation.used_items(s, rules)
    where = audience.where(s.audience, needs_vehicle=audience.needs_vehicle(items))
    counts = []
    if len(c.channels) == 1:
        tallies = [
            await gate_audit.audit(
                session, ctx, request_for(c, c.channels[0], items), now, where=where
            )
        ]
    else:  # one pass over the customers' states, decided for every channel
        tallies = await _tally_channels(session, ctx, c, items, now, where)
    for channel, tally in zip(c.channels, tallies, strict=True):
        counts.append(
            ChannelCounts(
                channel=channel,
                audience=tally.total,
                allowed=tally.allowed,
                denied=tally.total - tally.allowed - tally.deferred,
                deferred=tally.deferred,
                reasons=dict(tally.reasons.most_common()),
            )
        )
    samples: list[Sample] = []
    errors: list[str] = []
    if with_samples and sample_kit is not None and c.channels:
        samples, errors = await _samples(session, ctx, c, s.audience, items, now, sample_kit)
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
    )


async def _tally_channels(
    session: AsyncSession,
    ctx: GateContext,
    c: Campaign,
    items: frozenset[str],
    now: dt.datetime,
    where: list[Any],
) -> list[gate_audit.Tally]:
    """`gate audit` for several channels over one load of the states (the same batch path)."""
    requests = [request_for(c, ch, items) for ch in c.channels]
    tallies = [gate_audit.Tally() for _ in requests]
    async for states in batch.iter_states(session, ctx, now, where=where):
        for req, tally in zip(requests, tallies, strict=True):
            for st in states:
                d = gate_rules.decide(ctx, st, req, now)
                tally.total += 1
                if d.allowed:
                    tally.allowed += 1
                    continue
                if d.deferred_until is not None:
                    tally.deferred += 1
                tally.reasons.update(d.reasons)
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
    chosen = [p for p, d in zip(pool, decisions, strict=True) if d.allowed][:SAMPLES]
    out: list[Sample] = []
    errors: list[str] = []
    for cust in chosen:
        data = await message_data(session, c, cust, conditions)
        context = template_context(c, data, k, message_id=f"preview-{c.id}-{cust.id}")
        try:
            out.append(
                Sample(
                    customer_id=cust.id,
                    to_address=cust.email,
                    subject=k.renderer.render_string(c.subject_template, context).strip(),
                    text=k.renderer.render_string(c.text_template, context),
                    html=k.renderer.render_string(c.html_template, context, html=True)
                    if c.html_template
                    else "",
                )
            )
        except Exception as e:  # a template fault is shown to staff, not raised
            errors.append(f"顧客 {cust.id}: {e}")
    return out, errors


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


def template_context(
    c: Campaign, data: Mapping[str, Mapping[str, Any] | None], k: Kit, *, message_id: str
) -> dict[str, Any]:
    def ns(row: Mapping[str, Any] | None) -> SimpleNamespace | None:
        return SimpleNamespace(**row) if row is not None else None

    return {
        "customer": ns(data["customer"]),
        "vehicle": ns(data.get("vehicle")),
        "policy": ns(data.get("policy")),
        "store": ns(data.get("store")),
        "dealer": k.dealer,
        "campaign": SimpleNamespace(id=c.id, name=c.name, category=c.category),
        "message": SimpleNamespace(
            id=message_id,
            optout_url=f"{k.base_url}/u/（プレビュー：送信時に発行されます）",
            preferences_url=f"{k.base_url}/preferences/（プレビュー）",
        ),
    }
