"""Campaign definition, versioning and four-eyes approval on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from staffkit import APPROVER, MARKETER, MARKETER2, Actor, rules, spec

from outreach import bootstrap
from outreach.db.models import AuditEntry, Campaign, Customer, OutboxMessage
from outreach.staff import campaigns
from outreach.staff.errors import Conflict, Forbidden, Invalid


async def _create(app: bootstrap.App, **overrides: object) -> int:
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(
            s, spec(**overrides), rules(), actor=MARKETER, now=app.clock.now()
        )
        return c.id


async def _count(app: bootstrap.App) -> int:
    async with app.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Campaign)) or 0)


async def test_a_valid_campaign_is_saved_as_draft_version_1_and_audited(
    app: bootstrap.App,
) -> None:
    cid = await _create(app)
    async with app.sessions() as s:
        c = await campaigns.get(s, cid)
        assert (c.status, c.version, c.created_by, c.category) == ("draft", 1, "mika", "marketing")
        assert c.audience["all"][0] == {
            "field": "vehicle.car_name",
            "op": "in",
            "value": ["RX", "NX"],
        }
        log = (await s.scalars(select(AuditEntry).where(AuditEntry.entity == "campaign"))).all()
        assert [(e.action, e.actor, e.entity_id) for e in log] == [
            ("campaign.create", "mika", str(cid))
        ]
        assert log[0].after is not None and log[0].after["name"] == "冬のタイヤ交換フェア"


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        (  # insurance data is outside purpose (3)
            {"text_template": "{{ policy.insurer }}の保険{{ customer.name_kanji }}"},
            "text_template",
            "insurance_policy",
        ),
        (
            {"audience": [{"field": "sensitive.welcab_needs", "op": "eq", "value": "x"}]},
            "audience.sensitive.welcab_needs",
            "要配慮",
        ),
        ({"subject_template": "{{ sensitive.welcab_needs }}"}, "subject_template", "要配慮"),
        (
            {"audience": [{"field": "policy.insurer", "op": "eq", "value": "x"}]},
            "audience",
            "範囲外",
        ),
        ({"channels": ["sms"]}, "channels", "sms"),
        ({"purpose": "p9"}, "purpose", "p9"),
        ({"purpose": "p2", "channels": ["visit"]}, "channels", "visit"),
        ({"advertising": False}, "advertising", "広告"),  # a campaign is advertising
        ({"purpose": "p4", "advertising": False}, "advertising", "サービスのお知らせ"),
        (  # R14 mixed content: a tyre sale filed as a service notice
            {"purpose": "p2", "advertising": False, "text_template": "冬タイヤ 20％オフ"},
            "text_template",
            "宣伝の文言",
        ),
        ({"text_template": "{% if %}"}, "text_template", "構文"),
    ],
)
async def test_a_campaign_breaking_purpose_or_law_cannot_be_saved(
    app: bootstrap.App, overrides: dict[str, object], field: str, needle: str
) -> None:
    with pytest.raises(Invalid) as e:
        await _create(app, **overrides)
    assert any(p.field.startswith(field) and needle in p.message for p in e.value.problems), (
        e.value.problems
    )
    assert await _count(app) == 0


async def test_a_campaign_text_needs_no_footer_of_its_own(app: bootstrap.App) -> None:
    """The composer adds the sender display (R19); the old shared include still saves."""
    await _create(app, text_template="本文のみ")
    await _create(app, text_template='本文 {% include "_base/footer.txt" %}')
    assert await _count(app) == 2


RECALL = {
    "name": "リコールのお知らせ",
    "purpose": "p2",
    "advertising": False,
    "subject_template": "{{ customer.name_kanji }}様 リコール（回収・無償修理）のお知らせ",
    "text_template": "{{ customer.name_kanji }}様\n{{ vehicle.car_name }}のリコールについて。",
}


async def test_a_service_notice_is_approved_as_not_advertising_only_when_certified(
    app: bootstrap.App,
) -> None:
    cid = await _create(app, **RECALL)
    async with app.sessions() as s, s.begin():
        with pytest.raises(Conflict, match="certify"):
            await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=app.clock.now())
    async with app.sessions() as s, s.begin():
        c = await campaigns.approve(
            s, cid, 1, rules(), actor=APPROVER, now=app.clock.now(), certify_non_advertising=True
        )
        assert c.status == "approved" and c.advertising is False
    async with app.sessions() as s:
        row = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "campaign.certify_non_advertising")
        )
        assert row is not None and row.actor == APPROVER.username and row.entity_id == str(cid)


async def test_promotional_wording_cannot_be_certified_non_advertising(
    app: bootstrap.App,
) -> None:
    """Saved before the wording list grew (stored directly): approval still refuses it."""
    cid = await _create(app, **RECALL)
    async with app.sessions() as s, s.begin():
        c = await campaigns.get(s, cid)
        c.text_template += "\nこの機会に冬タイヤを20%オフでご提供。"
    async with app.sessions() as s, s.begin():
        with pytest.raises(Invalid) as e:
            await campaigns.approve(
                s,
                cid,
                1,
                rules(),
                actor=APPROVER,
                now=app.clock.now(),
                certify_non_advertising=True,
            )
    assert any("20%オフ" in p.message for p in e.value.problems), e.value.problems
    async with app.sessions() as s:
        assert (await campaigns.get(s, cid)).status == "draft"


async def test_a_marketer_cannot_approve(app: bootstrap.App) -> None:
    cid = await _create(app)
    async with app.sessions() as s:
        with pytest.raises(Forbidden):
            await campaigns.approve(s, cid, 1, rules(), actor=MARKETER2, now=app.clock.now())


async def test_the_creator_cannot_approve_their_own_campaign(app: bootstrap.App) -> None:
    cid = await _create(app)
    async with app.sessions() as s:
        with pytest.raises(Forbidden):
            await campaigns.approve(
                s, cid, 1, rules(), actor=Actor("mika", "approver"), now=app.clock.now()
            )


async def test_an_approver_approves_the_exact_version_only(app: bootstrap.App) -> None:
    cid = await _create(app)
    async with app.sessions() as s, s.begin():
        with pytest.raises(Conflict):
            await campaigns.approve(s, cid, 2, rules(), actor=APPROVER, now=app.clock.now())
        c = await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=app.clock.now())
        assert (c.status, c.approved_by, c.approved_version) == ("approved", "aoi", 1)


async def test_editing_an_approved_campaign_returns_it_to_draft(app: bootstrap.App) -> None:
    cid = await _create(app)
    async with app.sessions() as s, s.begin():
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=app.clock.now())
    async with app.sessions() as s, s.begin():
        c = await campaigns.update_spec(
            s,
            cid,
            spec(name="冬のフェア（改）"),
            rules(),
            expected_version=1,
            actor=MARKETER2,
            now=app.clock.now(),
        )
        assert (c.status, c.version, c.approved_by, c.approved_version) == ("draft", 2, None, None)
    async with app.sessions() as s:
        with pytest.raises(Conflict):  # approving the old version is refused
            await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=app.clock.now())
        with pytest.raises(Conflict):  # a stale edit is refused
            await campaigns.update_spec(
                s, cid, spec(), rules(), expected_version=1, actor=MARKETER, now=app.clock.now()
            )
        edit = await s.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.edit"))
        assert edit is not None and edit.before and edit.after
        assert (edit.before["status"], edit.after["status"]) == ("approved", "draft")
        assert (edit.before["name"], edit.after["name"]) == (
            "冬のタイヤ交換フェア",
            "冬のフェア（改）",
        )


async def test_an_invalid_edit_changes_nothing(app: bootstrap.App) -> None:
    cid = await _create(app)
    async with app.sessions() as s:
        with pytest.raises(Invalid):
            await campaigns.update_spec(
                s,
                cid,
                spec(channels=["sms"]),
                rules(),
                expected_version=1,
                actor=MARKETER,
                now=app.clock.now(),
            )
    async with app.sessions() as s:
        c = await campaigns.get(s, cid)
        assert (c.version, c.channels) == (1, ["email"])


async def test_only_an_approved_latest_version_can_be_scheduled(app: bootstrap.App) -> None:
    cid = await _create(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        with pytest.raises(Conflict):
            await campaigns.schedule(s, cid, actor=MARKETER, now=now)
    async with app.sessions() as s, s.begin():
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        at = now + dt.timedelta(days=1)
        c = await campaigns.schedule(s, cid, actor=MARKETER, now=now, at=at)
        assert (c.status, c.schedule_at) == ("scheduled", at)


async def test_pause_resume_and_cancel_act_on_queued_outbox_rows(app: bootstrap.App) -> None:
    cid = await _create(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        await campaigns.schedule(s, cid, actor=MARKETER, now=now)
        cust = Customer(external_id="C1", name_kanji="髙橋 一郎", created_at=now, updated_at=now)
        s.add(cust)
        await s.flush()
        for i, status in enumerate(["queued", "queued", "sent"]):
            s.add(
                OutboxMessage(
                    idempotency_key=f"campaign:{cid}:{i}",
                    customer_id=cust.id,
                    campaign_id=cid,
                    purpose="p3",
                    category="marketing",
                    channel="email",
                    kind="campaign",
                    template=f"campaign:{cid}",
                    status=status,
                    not_before=now,
                    created_at=now,
                )
            )
        (await campaigns.get(s, cid)).status = "running"

    async def statuses() -> list[str]:
        async with app.sessions() as s:
            q = select(OutboxMessage.status).where(OutboxMessage.campaign_id == cid)
            return sorted((await s.scalars(q.order_by(OutboxMessage.id))).all())

    async with app.sessions() as s, s.begin():
        assert (await campaigns.pause(s, cid, actor=MARKETER, now=now)).status == "paused"
    assert await statuses() == ["paused", "paused", "sent"]
    async with app.sessions() as s, s.begin():
        assert (await campaigns.resume(s, cid, actor=APPROVER, now=now)).status == "running"
    assert await statuses() == ["queued", "queued", "sent"]
    async with app.sessions() as s, s.begin():
        with pytest.raises(Conflict):
            await campaigns.update_spec(
                s, cid, spec(), rules(), expected_version=1, actor=MARKETER, now=now
            )
        assert (await campaigns.cancel(s, cid, actor=MARKETER, now=now)).status == "cancelled"
    assert await statuses() == ["cancelled", "cancelled", "sent"]
