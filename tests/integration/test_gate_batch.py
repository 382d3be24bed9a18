"""The batch gate path on SQLite and PostgreSQL: the state loaded from the database makes each
rule allow and deny; decisions are persisted in batches; audits stream every customer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from outreach.clock import JST
from outreach.db import engine as engine_mod
from outreach.db.models import (
    Customer,
    EmailBasis,
    GateDecision,
    OutboxMessage,
    Store,
    Suppression,
)
from outreach.errors import GateRefused
from outreach.gate import audit, batch
from outreach.gate import reasons as R
from outreach.gate.context import GateContext, load_context
from outreach.gate.decision import Request

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOW = dt.datetime(2026, 1, 6, 10, 0, tzinfo=JST)  # Tuesday 10:00
CREATED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CAMPAIGN = Request(
    purpose="p3",
    channel="email",
    items=frozenset({"name", "vehicle"}),
    advertising=True,
    kind="campaign",
    campaign_id=7,
)
SHAKEN = Request(
    purpose="p2",
    channel="email",
    items=frozenset({"name", "vehicle"}),
    advertising=True,
    kind="shaken",
)


@pytest.fixture
def ctx() -> GateContext:
    return load_context(CONFIG)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine_mod.sessionmaker(engine)() as s:
        yield s


_next = iter(range(1, 10_000))


async def add(s: AsyncSession, *, basis: str | None = "opt_in", **kw: Any) -> int:
    """A reachable, active, directly acquired customer with an opt-in email, changed by kw."""
    n = next(_next)
    values: dict[str, Any] = dict(
        external_id=f"T{n:06d}",
        name_kanji="山田太郎",
        postal_code="1000001",
        address="東京都千代田区1-1",
        phone="03-0000-0000",
        email=f"c{n}@example.jp",
        created_at=CREATED,
        updated_at=CREATED,
    )
    values.update(kw)
    c = Customer(**values)
    s.add(c)
    await s.flush()
    if basis is not None and c.email:
        s.add(
            EmailBasis(
                customer_id=c.id,
                email=c.email,
                basis=basis,
                evidence_at=CREATED,
                evidence_method="web_form",
                evidence_text="メール配信に同意します（v1）",
            )
        )
        await s.flush()
    return c.id


async def decide(
    s: AsyncSession, ctx: GateContext, cid: int, request: Request = CAMPAIGN, now: dt.datetime = NOW
) -> tuple[str, ...]:
    (d,) = await batch.decide_for(s, ctx, [(cid, request)], now)
    assert d.customer_id == cid
    assert d.allowed == (d.reasons == ())
    return d.reasons


async def test_a_reachable_consenting_customer_is_allowed(
    session: AsyncSession, ctx: GateContext
) -> None:
    cid = await add(session)
    assert await decide(session, ctx, cid) == ()


async def test_purpose_unknown_and_channel(session: AsyncSession, ctx: GateContext) -> None:
    cid = await add(session)
    assert R.PURPOSE_UNKNOWN in await decide(
        session, ctx, cid, dataclasses.replace(CAMPAIGN, purpose="p99")
    )
    visit = dataclasses.replace(SHAKEN, channel="visit")
    assert R.CHANNEL_NOT_ALLOWED in await decide(session, ctx, cid, visit)
    assert await decide(session, ctx, cid, dataclasses.replace(CAMPAIGN, channel="visit")) == ()
    assert R.CHANNEL_NOT_ALLOWED in await decide(
        session, ctx, cid, dataclasses.replace(CAMPAIGN, channel="sms")
    )


async def test_purpose_not_notified(session: AsyncSession, ctx: GateContext) -> None:
    reg = ctx.registry
    p7 = dataclasses.replace(reg.purposes["p7"], channels=frozenset({"email"}))
    c7 = GateContext(dataclasses.replace(reg, purposes={**reg.purposes, "p7": p7}), ctx.policy)
    r7 = dataclasses.replace(CAMPAIGN, purpose="p7", kind=None, campaign_id=None)
    v1 = await add(session, notice_version=1)
    v2 = await add(session, notice_version=2)
    v1_consented = await add(session, notice_version=1, consents=["purpose:p7"])
    assert await decide(session, c7, v1, r7) == (R.PURPOSE_NOT_NOTIFIED,)
    assert await decide(session, c7, v2, r7) == ()
    assert await decide(session, c7, v1_consented, r7) == ()


async def test_data_items_and_sensitive(session: AsyncSession, ctx: GateContext) -> None:
    cid = await add(session)
    # (3) reads the 車検証 data as part of the dealer's own 車検 service (purposes.toml), but
    # never call recordings
    extra = dataclasses.replace(CAMPAIGN, items=frozenset({"name", "call_recording"}))
    assert await decide(session, ctx, cid, extra) == (R.DATA_ITEM_NOT_ALLOWED,)
    shaken = dataclasses.replace(CAMPAIGN, items=frozenset({"name", "inspection_certificate"}))
    assert await decide(session, ctx, cid, shaken) == ()
    sensitive = dataclasses.replace(CAMPAIGN, items=frozenset({"name", "sensitive"}))
    assert R.SENSITIVE_DATA in await decide(session, ctx, cid, sensitive)
    allowed = ctx.registry.items_for_fields(
        {"customer.name_kanji", "vehicle.car_name", "store.name"}
    )
    assert await decide(session, ctx, cid, dataclasses.replace(CAMPAIGN, items=allowed)) == ()


async def test_joint_use_scope(session: AsyncSession, ctx: GateContext) -> None:
    toyota = await add(session, acquisition="joint_use", joint_use_partner="トヨタ自動車株式会社")
    stranger = await add(session, acquisition="joint_use", joint_use_partner="無関係商事株式会社")
    koishikawa = "レクサス小石川販売株式会社"
    via_lt = await add(
        session,
        acquisition="joint_use",
        joint_use_partner=koishikawa,
        acquisition_source="lexus_tokyo",
    )
    not_via = await add(session, acquisition="joint_use", joint_use_partner=koishikawa)
    assert await decide(session, ctx, toyota, CAMPAIGN) == ()  # ① → (3)
    assert await decide(session, ctx, toyota, SHAKEN) == (R.JOINT_USE_SCOPE,)  # (2) is not ①–③
    assert await decide(session, ctx, stranger, CAMPAIGN) == (R.JOINT_USE_SCOPE,)
    # the LEXUS TOKYO joint use covers only data obtained via LEXUS TOKYO (read from the row)
    assert await decide(session, ctx, via_lt, CAMPAIGN) == ()
    assert await decide(session, ctx, not_via, CAMPAIGN) == (R.JOINT_USE_SCOPE,)
    # ① names products, services, events and campaigns, not a store move
    moving = dataclasses.replace(CAMPAIGN, topic="store_changes")
    assert await decide(session, ctx, toyota, moving) == (R.JOINT_USE_SCOPE,)
    assert await decide(session, ctx, await add(session), moving) == ()


async def test_insurer_partition(session: AsyncSession, ctx: GateContext) -> None:
    plain = await add(session)
    consented = await add(session, consents=["insurer_share:mitsui_sumitomo"])
    other_only = await add(session, consents=["insurer_share:aioi_nissay_dowa"])
    renewal = Request(
        purpose="p2",
        channel="email",
        items=frozenset({"name", "insurance_policy"}),
        advertising=True,
        kind="nini",
        insurer="tokio_marine",
        data_insurer="tokio_marine",
    )
    cross = dataclasses.replace(renewal, insurer="mitsui_sumitomo")
    assert await decide(session, ctx, plain, renewal) == ()
    assert await decide(session, ctx, plain, cross) == (R.INSURER_PARTITION,)
    assert await decide(session, ctx, consented, cross) == ()
    assert await decide(session, ctx, other_only, cross) == (R.INSURER_PARTITION,)


async def test_opted_out_by_scope(session: AsyncSession, ctx: GateContext) -> None:
    marketing = await add(session, opt_outs=["category:marketing"])
    campaign = await add(session, opt_outs=["campaign:7"])
    everything = await add(session, opt_outs=["all"])
    assert await decide(session, ctx, marketing, CAMPAIGN) == (R.OPTED_OUT,)
    # R18: an advertising reminder (it invites a booking) is advertising mail and stops too;
    # a service notice that is not advertising still goes.
    assert await decide(session, ctx, marketing, SHAKEN) == (R.OPTED_OUT,)
    notice = dataclasses.replace(SHAKEN, advertising=False)
    assert await decide(session, ctx, marketing, notice) == ()
    assert await decide(session, ctx, campaign, CAMPAIGN) == (R.OPTED_OUT,)
    assert await decide(session, ctx, campaign, dataclasses.replace(CAMPAIGN, campaign_id=8)) == ()
    assert await decide(session, ctx, everything, SHAKEN) == (R.OPTED_OUT,)


async def test_use_suspended(session: AsyncSession, ctx: GateContext) -> None:
    stopped = await add(session, use_suspended=True)
    assert await decide(session, ctx, stopped, SHAKEN) == (R.USE_SUSPENDED,)
    assert await decide(session, ctx, await add(session), SHAKEN) == ()


async def test_email_basis(session: AsyncSession, ctx: GateContext) -> None:
    none = await add(session, basis=None)
    written = await add(session, basis="written")
    withdrawn = await add(session)
    moved = await add(session)
    await session.execute(
        update(EmailBasis).where(EmailBasis.customer_id == withdrawn).values(withdrawn_at=CREATED)
    )
    # the basis was for the old address
    await session.execute(
        update(Customer).where(Customer.id == moved).values(email="new@example.jp")
    )
    assert await decide(session, ctx, none, CAMPAIGN) == (R.NO_EMAIL_CONSENT,)
    assert await decide(session, ctx, written, CAMPAIGN) == ()
    assert await decide(session, ctx, withdrawn, CAMPAIGN) == (R.NO_EMAIL_CONSENT,)
    assert await decide(session, ctx, moved, CAMPAIGN) == (R.NO_EMAIL_CONSENT,)
    not_advertising = dataclasses.replace(SHAKEN, advertising=False)
    assert await decide(session, ctx, none, not_advertising) == ()
    unclassified = dataclasses.replace(SHAKEN, advertising=None)
    assert await decide(session, ctx, written, unclassified) == (R.UNCLASSIFIED_TEMPLATE,)


async def test_contact_unreachable(session: AsyncSession, ctx: GateContext) -> None:
    no_email = await add(session, email=None)
    bounced = await add(session)
    email = (
        await session.execute(select(Customer.email).where(Customer.id == bounced))
    ).scalar_one()
    session.add(Suppression(email=email, reason="hard_bounce", created_at=CREATED))
    no_address = await add(session, address=None)
    no_phone = await add(session, phone="")
    note = dataclasses.replace(SHAKEN, advertising=False)
    assert await decide(session, ctx, no_email, note) == (R.CONTACT_UNREACHABLE,)
    assert await decide(session, ctx, no_email, dataclasses.replace(note, channel="post")) == ()
    assert await decide(session, ctx, bounced, note) == (R.CONTACT_UNREACHABLE,)
    assert await decide(session, ctx, no_address, dataclasses.replace(note, channel="post")) == (
        R.CONTACT_UNREACHABLE,
    )
    assert await decide(session, ctx, no_phone, dataclasses.replace(note, channel="phone")) == (
        R.CONTACT_UNREACHABLE,
    )
    assert await decide(session, ctx, no_phone, note) == ()


async def test_customer_and_vehicle_inactive(session: AsyncSession, ctx: GateContext) -> None:
    deceased = await add(session, status="deceased")
    alive = await add(session)
    assert await decide(session, ctx, deceased, SHAKEN) == (R.CUSTOMER_INACTIVE,)
    sold = dataclasses.replace(SHAKEN, vehicle_status="sold")
    assert await decide(session, ctx, alive, sold) == (R.VEHICLE_INACTIVE,)
    assert (
        await decide(session, ctx, alive, dataclasses.replace(SHAKEN, vehicle_status="owned")) == ()
    )
    # an id with no customer row is never allowed
    assert R.CUSTOMER_INACTIVE in await decide(session, ctx, 987_654, SHAKEN)


def sent(cid: int, n: int, days_ago: float, category: str, kind: str) -> OutboxMessage:
    at = NOW - dt.timedelta(days=days_ago)
    return OutboxMessage(
        idempotency_key=f"{kind}:{cid}:{n}",
        customer_id=cid,
        purpose="p3" if category == "marketing" else "p2",
        category=category,
        channel="email",
        kind=kind,
        template="t",
        items=["name"],
        advertising=True,
        status="sent",
        not_before=at,
        created_at=at,
    )


async def test_frequency_cap(session: AsyncSession, ctx: GateContext) -> None:
    freq = ctx.policy.frequency
    busy, quiet, reminded, long_ago = [await add(session) for _ in range(4)]
    session.add_all(sent(busy, i, 2 + i, "marketing", "campaign") for i in range(freq.max_contacts))
    session.add_all(
        sent(quiet, i, 2 + i, "marketing", "campaign") for i in range(freq.max_contacts - 1)
    )
    session.add(sent(reminded, 0, freq.after_higher_days - 1, "service_notice", "shaken"))
    session.add(sent(long_ago, 0, freq.after_higher_days + 1, "service_notice", "shaken"))
    await session.flush()
    assert await decide(session, ctx, busy, CAMPAIGN) == (R.FREQUENCY_CAP,)
    assert await decide(session, ctx, busy, SHAKEN) == ()  # service notices are not capped
    assert await decide(session, ctx, quiet, CAMPAIGN) == ()
    assert await decide(session, ctx, reminded, CAMPAIGN) == (R.FREQUENCY_CAP,)
    assert await decide(session, ctx, long_ago, CAMPAIGN) == ()


async def test_send_window_uses_the_store_closing_day(
    session: AsyncSession, ctx: GateContext
) -> None:
    tuesday_closed = Store(code="S01", name="本店", closing_weekdays=[2])
    session.add(tuesday_closed)
    await session.flush()
    at_store = await add(session, store_id=tuesday_closed.id)
    no_store = await add(session)
    call = dataclasses.replace(SHAKEN, channel="phone", advertising=False)
    (d,) = await batch.decide_for(session, ctx, [(at_store, call)], NOW)
    assert d.reasons == (R.OUTSIDE_SEND_WINDOW,) and d.deferred
    assert d.deferred_until == dt.datetime(2026, 1, 7, 10, 0, tzinfo=JST)
    assert await decide(session, ctx, no_store, call) == ()
    late = dt.datetime(2026, 1, 6, 22, 0, tzinfo=JST)
    (d,) = await batch.decide_for(session, ctx, [(no_store, CAMPAIGN)], late)
    assert d.deferred_until == dt.datetime(2026, 1, 7, 8, 0, tzinfo=JST)


async def test_record_persists_every_decision_in_order(
    session: AsyncSession, ctx: GateContext
) -> None:
    ok = await add(session)
    out = await add(session, opt_outs=["all"])
    asks = [(ok, CAMPAIGN), (out, CAMPAIGN), (ok, SHAKEN), (ok, CAMPAIGN)]
    decisions = await batch.decide_for(session, ctx, asks, NOW)
    ids = await batch.record(session, decisions, run_id=5, subject_keys=["a", "b", "c", "a"])
    await session.commit()
    assert len(set(ids)) == 4
    rows = {
        r.id: r
        for r in (
            await session.execute(select(GateDecision).where(GateDecision.id.in_(ids)))
        ).scalars()
    }
    for i, d in zip(ids, decisions, strict=True):
        row = rows[i]
        assert (row.customer_id, row.purpose, row.allowed) == (
            d.customer_id,
            d.request.purpose,
            d.allowed,
        )
        assert row.reasons == " ".join(d.reasons)
        assert row.items == "name vehicle"
        assert row.run_id == 5 and row.policy_version == ctx.registry.version
        assert row.decided_at == NOW
    assert rows[ids[1]].reasons == R.OPTED_OUT and rows[ids[1]].subject_key == "b"
    assert rows[ids[0]].campaign_id == 7


async def test_audit_streams_every_customer_in_chunks(
    session: AsyncSession, ctx: GateContext
) -> None:
    for i in range(23):
        await add(
            session,
            opt_outs=["category:marketing"] if i % 5 == 0 else [],
            status="deceased" if i == 7 else "active",
        )
    await session.commit()
    tally = await audit.audit(session, ctx, CAMPAIGN, NOW, chunk=4)
    assert tally.total == 23
    assert tally.reasons == {R.OPTED_OUT: 5, R.CUSTOMER_INACTIVE: 1}
    assert tally.allowed == 17
    # the same population, persisted
    tally2 = await audit.audit(session, ctx, CAMPAIGN, NOW, chunk=5, persist=True, run_id=3)
    assert tally2 == tally
    n = (await session.execute(select(func.count()).select_from(GateDecision))).scalar_one()
    assert n == 23
    # filtered: only the deceased one
    only = await audit.audit(
        session, ctx, CAMPAIGN, NOW, where=[Customer.__table__.c.status == "deceased"]
    )
    assert only.total == 1 and only.reasons == {R.CUSTOMER_INACTIVE: 1}


async def test_an_opt_out_after_the_decision_wins_at_send_time(
    session: AsyncSession, ctx: GateContext
) -> None:
    from outreach.gate import consent, decision

    cid = await add(session)
    (first,) = await batch.decide_for(session, ctx, [(cid, CAMPAIGN)], NOW)
    permit = decision.permit_for(first, (await batch.record(session, [first]))[0])
    assert decision.require(permit, cid, "p3", "email", CAMPAIGN.items) is permit
    changed = await consent.record_event(
        session,
        cid,
        action="opt_out",
        scope="category:marketing",
        source="one_click",
        actor="customer",
        now=NOW + dt.timedelta(minutes=1),
    )
    assert changed
    # the send-time re-check goes through the same batch path and sees the opt-out
    (again,) = await batch.decide_for(
        session, ctx, [(cid, CAMPAIGN)], NOW + dt.timedelta(minutes=2)
    )
    assert again.reasons == (R.OPTED_OUT,)
    with pytest.raises(GateRefused, match="OPTED_OUT"):
        decision.permit_for(again)


async def test_audit_filters_are_bound_not_spliced(session: AsyncSession, ctx: GateContext) -> None:
    odd = "O'R\\'; DROP x--"
    await add(session, prefecture=odd)
    await add(session, prefecture="東京都")
    await session.commit()
    c = Customer.__table__.c
    only = await audit.audit(session, ctx, CAMPAIGN, NOW, where=[c.prefecture == odd])
    assert only.total == 1
    everyone = await audit.audit(session, ctx, CAMPAIGN, NOW)
    assert everyone.total == 2


async def test_record_without_returning_stores_the_same_rows(
    session: AsyncSession, ctx: GateContext
) -> None:
    a = await add(session)
    b = await add(session, use_suspended=True)
    late = dt.datetime(2026, 1, 6, 23, 0, tzinfo=JST)
    decisions = await batch.decide_for(session, ctx, [(a, CAMPAIGN), (b, CAMPAIGN)], late)
    assert await batch.record(session, decisions, run_id=9, returning=False) == []
    await session.commit()
    rows = (
        (await session.execute(select(GateDecision).order_by(GateDecision.customer_id)))
        .scalars()
        .all()
    )
    assert [(r.customer_id, r.allowed, r.reasons) for r in rows] == [
        (a, False, R.OUTSIDE_SEND_WINDOW),
        (b, False, f"{R.USE_SUSPENDED} {R.OUTSIDE_SEND_WINDOW}"),
    ]
    assert rows[0].deferred_until == dt.datetime(2026, 1, 7, 8, 0, tzinfo=JST)
    assert rows[1].deferred_until is None
    assert all(r.decided_at == late and r.run_id == 9 and r.items == "name vehicle" for r in rows)
    # stored like every other timestamp: the frequency window compares them as such
    n = (
        await session.execute(
            select(func.count())
            .select_from(GateDecision)
            .where(GateDecision.decided_at >= late - dt.timedelta(seconds=1))
        )
    ).scalar_one()
    assert n == 2
    # byte for byte as SQLAlchemy's own insert stores them
    await batch.record(session, decisions, run_id=10)
    await session.commit()
    raw = (
        await session.execute(
            select(
                type_coerce(GateDecision.decided_at, String),
                type_coerce(GateDecision.deferred_until, String),
                type_coerce(GateDecision.allowed, String),
            ).order_by(GateDecision.run_id, GateDecision.customer_id)
        )
    ).all()
    assert raw[:2] == raw[2:]
