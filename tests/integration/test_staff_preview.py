"""Campaign preview through the gate's batch path, on both databases."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select
from staffkit import MARKETER, REPO, rules, seed_customers, spec

from outreach import bootstrap
from outreach.db.models import AuditEntry, GateDecision
from outreach.gate.context import load_context
from outreach.staff import campaigns, preview


async def test_preview_counts_the_audience_the_allowed_and_every_reason(
    app: bootstrap.App,
) -> None:
    ids = await seed_customers(app)
    kit = preview.kit(REPO / "templates", REPO / "config", "https://dealer.example.jp")
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=app.clock.now())
        p = await preview.preview(
            s,
            load_context(REPO / "config"),
            c,
            rules(),
            now=app.clock.now(),
            actor="mika",
            sample_kit=kit,
        )
    [email] = p.channels
    # RX/NX owned in 東京都: C1, C2, C3, C7 (C4 drives an LS, C5 sold the RX, C6 is in 大阪府)
    assert email.audience == 4
    assert email.allowed == 1
    assert email.denied + email.deferred + email.allowed == email.audience
    assert email.reasons["OPTED_OUT"] == 1  # C2
    assert email.reasons["CONTACT_UNREACHABLE"] == 1  # C3 has no address
    assert email.reasons["NO_EMAIL_CONSENT"] >= 1  # C7 has no recorded basis
    assert set(p.items) == {"name", "vehicle", "address"}  # the filter reads the prefecture

    assert [x.customer_id for x in p.samples] == [ids["C1"]]
    [sample] = p.samples
    assert sample.subject == "髙橋 一郎様 冬のタイヤ交換フェアのご案内"
    assert "RXの冬支度" in sample.text and "ジャミール商事株式会社" in sample.text
    assert "https://dealer.example.jp/u/" in sample.text
    assert p.as_dict()["channels"][0]["reasons"][0]["label"]  # Japanese label for each code

    async with app.sessions() as s:
        reads = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "customer.read"))
        ).all()
        assert [(r.actor, r.entity_id) for r in reads] == [("mika", str(ids["C1"]))]
        assert await s.scalar(select(func.count()).select_from(GateDecision)) == 0


async def test_firing_queues_the_allowed_at_the_campaign_rate_and_only_once(
    app: bootstrap.App,
) -> None:
    from staffkit import APPROVER

    from outreach.db.models import OutboxMessage, Run
    from outreach.staff import sending

    ids = await seed_customers(app)
    ctx = load_context(REPO / "config")
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(audience=[]), rules(), actor=MARKETER, now=now)
        cid = c.id
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        await campaigns.schedule(s, cid, actor=MARKETER, now=now)
    first = await sending.fire_due(app.sessions, ctx, rules(), now=now)
    again = await sending.fire_due(app.sessions, ctx, rules(), now=now)
    assert again == []  # no longer scheduled
    [summary] = first
    # the template talks about the car: everyone who uses an owned vehicle (not C5, who sold
    # theirs), but not C2 (opted out), C3 (no address) nor C7 (no basis)
    assert summary.audience == 6
    assert summary.allowed == summary.queued == 3
    assert summary.reasons["OPTED_OUT"] == 1
    async with app.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.not_before))).all()
        assert sorted(r.customer_id for r in rows) == sorted(ids[k] for k in ("C1", "C4", "C6"))
        assert {r.template for r in rows} == {f"campaign:{cid}:v1"}
        assert all(r.decision_id is not None and r.vehicle_id is not None for r in rows)
        gaps = [(b.not_before - a.not_before).total_seconds() for a, b in itertools.pairwise(rows)]
        assert gaps == [1 / 50] * 2  # the campaign's rate: 50 per second
        decided = await s.scalar(
            select(func.count()).select_from(GateDecision).where(GateDecision.campaign_id == cid)
        )
        assert decided == 6  # every decision recorded, allowed or not
        run = await s.scalar(select(Run).where(Run.campaign_id == cid))
        assert run is not None and run.status == "done" and run.summary["queued"] == 3
        assert (await campaigns.get(s, cid)).status == "running"

    # a second firing of the same approved version (a misfire) queues nothing new
    async with app.sessions() as s, s.begin():
        (await campaigns.get(s, cid)).status = "scheduled"
    [repeat] = await sending.fire_due(app.sessions, ctx, rules(), now=now)
    assert repeat.allowed == 3 and repeat.queued == 0


async def test_a_test_send_goes_only_to_a_staff_address(app: bootstrap.App) -> None:
    import sendkit
    from pydantic import SecretStr

    from outreach.staff import testsend, users
    from outreach.staff.errors import Invalid

    await seed_customers(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        await users.add(
            s,
            username="mika",
            password="correct horse battery",
            role="marketer",
            email="mika@dealer.example.jp",
            actor="test",
            now=now,
        )
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=now)
    with sendkit.SmtpServer() as smtp:
        settings = app.settings.model_copy(
            update={"transport": "smtp", "smtp_url": SecretStr(smtp.url)}
        )
        async with app.sessions() as s, s.begin():
            with pytest.raises(Invalid):  # a customer's address is not a staff address
                await testsend.send(
                    s,
                    load_context(REPO / "config"),
                    c,
                    rules(),
                    to="ichiro@example.jp",
                    actor="mika",
                    settings=settings,
                    now=now,
                )
        async with app.sessions() as s, s.begin():
            r = await testsend.send(
                s,
                load_context(REPO / "config"),
                c,
                rules(),
                to="mika@dealer.example.jp",
                actor="mika",
                settings=settings,
                now=now,
            )
        assert r.ok and r.code == 250
        [received] = smtp.received
        msg = received.parsed()
        # Rendered from the synthetic sample customer, never from a real customer's record.
        assert str(msg["subject"]) == "【テスト送信】髙橋 花子様 冬のタイヤ交換フェアのご案内"
        plain = msg.get_body(("plain",))
        assert plain is not None and "一郎" not in plain.get_content()
        assert "ジャミール商事株式会社" in plain.get_content()  # the sender display
        assert msg["List-Unsubscribe"] is not None
        assert msg["to"].addresses[0].addr_spec == "mika@dealer.example.jp"
    async with app.sessions() as s:
        logged = await s.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.test_send"))
        assert logged is not None and logged.actor == "mika"


async def test_a_recurring_campaign_fires_once_per_occurrence(app: bootstrap.App) -> None:
    import datetime as dt

    from staffkit import APPROVER

    from outreach.clock import JST
    from outreach.db.models import OutboxMessage
    from outreach.staff import sending
    from outreach.staff.errors import Invalid

    await seed_customers(app)
    ctx = load_context(REPO / "config")
    now = app.clock.now()  # Monday 2026-01-05 09:00 JST
    async with app.sessions() as s:
        with pytest.raises(Invalid):
            await campaigns.create(
                s, spec(recurrence="99 10 * * *"), rules(), actor=MARKETER, now=now
            )
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(
            s, spec(recurrence="0 10 * * *"), rules(), actor=MARKETER, now=now
        )
        cid = c.id
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        c = await campaigns.schedule(s, cid, actor=MARKETER, now=now)
        assert c.schedule_at == dt.datetime(2026, 1, 5, 10, 0, tzinfo=JST)
    assert await sending.fire_due(app.sessions, ctx, rules(), now=now) == []  # not yet
    day1 = dt.datetime(2026, 1, 5, 10, 0, 5, tzinfo=JST)
    [first] = await sending.fire_due(app.sessions, ctx, rules(), now=day1)
    assert await sending.fire_due(app.sessions, ctx, rules(), now=day1) == []
    day2 = dt.datetime(2026, 1, 6, 10, 0, 5, tzinfo=JST)
    [second] = await sending.fire_due(app.sessions, ctx, rules(), now=day2)
    assert first.queued == second.queued == 1  # C1, the one allowed in the audience
    async with app.sessions() as s:
        c = await campaigns.get(s, cid)
        assert c.status == "scheduled"
        assert c.schedule_at == dt.datetime(2026, 1, 7, 10, 0, tzinfo=JST)
        keys = (await s.scalars(select(OutboxMessage.idempotency_key))).all()
        assert sorted(k.split(":")[3] for k in keys) == ["20260105T1000", "20260106T1000"]


async def test_a_campaign_fired_at_night_is_queued_for_the_morning(app: bootstrap.App) -> None:
    import datetime as dt

    from staffkit import APPROVER

    from outreach.clock import JST
    from outreach.db.models import OutboxMessage
    from outreach.staff import sending

    await seed_customers(app)
    night = dt.datetime(2026, 1, 5, 22, 30, tzinfo=JST)
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(audience=[]), rules(), actor=MARKETER, now=night)
        await campaigns.approve(s, c.id, 1, rules(), actor=APPROVER, now=night)
        await campaigns.schedule(s, c.id, actor=MARKETER, now=night)
    [fired] = await sending.fire_due(
        app.sessions, load_context(REPO / "config"), rules(), now=night
    )
    assert (fired.allowed, fired.deferred_queued, fired.queued) == (0, 3, 3)
    assert fired.denied == 3 and fired.reasons["OPTED_OUT"] == 1  # still denied
    async with app.sessions() as s:
        times = (await s.scalars(select(OutboxMessage.not_before))).all()
        assert min(times) == dt.datetime(2026, 1, 6, 8, 0, tzinfo=JST)


async def test_a_preview_over_several_channels_counts_each_as_alone(app: bootstrap.App) -> None:
    await seed_customers(app)
    ctx = load_context(REPO / "config")
    now = app.clock.now()
    found = {}
    async with app.sessions() as s, s.begin():
        for channels in (["email"], ["post"], ["email", "post"]):
            c = await campaigns.create(
                s, spec(channels=channels, audience=[]), rules(), actor=MARKETER, now=now
            )
            p = await preview.preview(s, ctx, c, rules(), now=now, actor="mika", with_samples=False)
            found[tuple(channels)] = {ch.channel: ch for ch in p.channels}
    both = found[("email", "post")]
    assert both["email"] == found[("email",)]["email"]
    assert both["post"] == found[("post",)]["post"]
    assert both["post"].allowed > both["email"].allowed  # no email basis needed for post
    assert "NO_EMAIL_CONSENT" not in both["post"].reasons
