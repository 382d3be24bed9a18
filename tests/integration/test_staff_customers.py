"""Customer requests handled by staff (APPI Art. 33–35) on both databases."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from staffkit import REPO, seed_customers

from outreach import bootstrap
from outreach.db.models import (
    AuditEntry,
    ConsentEvent,
    Customer,
    DataRequest,
    Flag,
    GateDecision,
    OutboxMessage,
    ProvisionRecord,
)
from outreach.gate import batch
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.staff import customers
from outreach.staff.errors import Invalid


async def _audit(app: bootstrap.App, action: str) -> list[AuditEntry]:
    async with app.sessions() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.scalars(q)).all())


async def test_search_and_page_reads_are_audited(app: bootstrap.App) -> None:
    ids = await seed_customers(app)
    async with app.sessions() as s, s.begin():
        found = await customers.search(s, "髙橋", actor="aoi", now=app.clock.now())
        assert [h.id for h in found.hits] == [ids["C1"]] and found.total == 1
        assert (await customers.search(s, "C2", actor="aoi", now=app.clock.now())).hits
        page = await customers.page(s, ids["C1"], actor="aoi", now=app.clock.now())
        assert page.customer["name_kanji"] == "髙橋 一郎"
        assert "opt_outs" not in page.customer and page.vehicles[0]["car_name"] == "RX"
    assert [a.reason for a in await _audit(app, "customer.search")] == [
        "q=髙橋 hits=1",
        "q=C2 hits=1",
    ]
    assert [(a.actor, a.entity_id) for a in await _audit(app, "customer.read")] == [
        ("aoi", str(ids["C1"]))
    ]


async def test_a_phone_opt_out_is_in_the_ledger_and_the_gate_denies_next_time(
    app: bootstrap.App,
) -> None:
    ids = await seed_customers(app)
    cid = ids["C1"]
    ctx = load_context(REPO / "config")
    req = Request(purpose="p3", channel="email", items=frozenset({"name"}), advertising=True)
    async with app.sessions() as s:
        [before] = await batch.decide_for(s, ctx, [(cid, req)], app.clock.now())
        assert before.allowed
    async with app.sessions() as s, s.begin():
        r = await customers.take_request(
            s,
            cid,
            kind="opt_out",
            scope="category:marketing",
            source="phone",
            actor="aoi",
            now=app.clock.now(),
            note="電話で営業メール停止のご依頼",
        )
        assert r == customers.RequestTaken(changed=True, request_id=None)
    async with app.sessions() as s, s.begin():
        again = await customers.take_request(
            s,
            cid,
            kind="opt_out",
            scope="category:marketing",
            source="phone",
            actor="aoi",
            now=app.clock.now(),
        )
        assert again.changed is False  # a repeat adds no ledger event
    async with app.sessions() as s:
        [after] = await batch.decide_for(s, ctx, [(cid, req)], app.clock.now())
        assert not after.allowed and "OPTED_OUT" in after.reasons
        [event] = (await s.scalars(select(ConsentEvent))).all()
        assert (event.action, event.scope, event.source, event.actor) == (
            "opt_out",
            "category:marketing",
            "phone",
            "aoi",
        )
        assert event.evidence["taken_by"] == "aoi"


async def test_a_cessation_request_suspends_use_and_awaits_the_notice(app: bootstrap.App) -> None:
    ids = await seed_customers(app)
    async with app.sessions() as s, s.begin():
        r = await customers.take_request(
            s,
            ids["C4"],
            kind="cessation",
            scope="all",
            source="store",
            actor="aoi",
            now=app.clock.now(),
        )
    async with app.sessions() as s, s.begin():
        c = await s.get(Customer, ids["C4"])
        assert c is not None and c.use_suspended
        req = await s.get(DataRequest, r.request_id)
        assert req is not None and (req.kind, req.outcome, req.notified_at) == (
            "cessation",
            "accepted",
            None,
        )
        flag = await s.scalar(select(Flag).where(Flag.kind == "request_notice"))
        assert flag is not None and flag.resolved_at is None
        await customers.mark_notified(s, req.id, method="letter", actor="aoi", now=app.clock.now())
    async with app.sessions() as s:
        flag = await s.scalar(select(Flag).where(Flag.kind == "request_notice"))
        assert flag is not None and flag.resolved_at is not None


async def test_a_correction_is_audited_before_and_after_with_an_outcome_notice(
    app: bootstrap.App,
) -> None:
    ids = await seed_customers(app)
    async with app.sessions() as s, s.begin():
        r = await customers.correct(
            s,
            ids["C1"],
            field="name_kanji",
            value="高橋 一郎",
            reason="免許証で確認",
            actor="aoi",
            now=app.clock.now(),
        )
    assert r.before == {"name_kanji": "髙橋 一郎"} and r.after == {"name_kanji": "高橋 一郎"}
    [row] = await _audit(app, "customer.correct")
    assert (row.before, row.after, row.reason) == (r.before, r.after, "免許証で確認")
    async with app.sessions() as s:
        c = await s.get(Customer, ids["C1"])
        assert c is not None and c.name_kanji == "高橋 一郎"
        req = await s.get(DataRequest, r.request_id)
        assert req is not None and req.kind == "correction" and req.outcome == "corrected"
        assert await s.scalar(select(Flag).where(Flag.key == f"request_notice:{req.id}"))
        with pytest.raises(Invalid):
            await customers.correct(
                s,
                ids["C1"],
                field="opt_outs",
                value="[]",
                reason="x",
                actor="aoi",
                now=app.clock.now(),
            )


async def test_the_disclosure_export_holds_consents_send_log_and_provision_records(
    app: bootstrap.App,
) -> None:
    ids = await seed_customers(app)
    cid = ids["C1"]
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        await customers.take_request(
            s, cid, kind="opt_out", scope="channel:phone", source="phone", actor="aoi", now=now
        )
        s.add(
            OutboxMessage(
                idempotency_key="k1",
                customer_id=cid,
                purpose="p2",
                category="service_notice",
                channel="email",
                kind="shaken",
                template="shaken/first",
                status="sent",
                not_before=now,
                created_at=now,
                message_id="<1.x@mail.example>",
            )
        )
        s.add(
            GateDecision(
                customer_id=cid,
                purpose="p3",
                channel="email",
                allowed=False,
                reasons="NO_EMAIL_CONSENT OPTED_OUT",
                policy_version=2,
                decided_at=now,
            )
        )
        s.add(
            ProvisionRecord(
                direction="provide",
                counterparty="東京海上日動火災保険株式会社",
                customer_id=cid,
                items=["name", "vehicle"],
                basis="consent",
                at=now - dt.timedelta(days=3),
            )
        )
    async with app.sessions() as s, s.begin():
        data = await customers.export(s, cid, actor="aoi", now=now)
    assert data.customer["name_kanji"] == "髙橋 一郎"
    assert [e["scope"] for e in data.consent_history] == ["channel:phone"]
    assert [m["message_id"] for m in data.send_log] == ["<1.x@mail.example>"]
    assert data.gate_decisions[0]["reasons"] == ["NO_EMAIL_CONSENT", "OPTED_OUT"]
    assert data.provision_records[0]["counterparty"] == "東京海上日動火災保険株式会社"
    # and as the person reads them (Art. 33(5))
    assert data.provision_log[0]["相手方"] == "東京海上日動火災保険株式会社"
    assert (
        data.provision_log[0]["区分"] == "提供" and data.provision_log[0]["根拠"] == "ご本人の同意"
    )
    assert data.requests[-1]["kind"] == "disclosure"
    json.dumps(data.to_json(), default=str, ensure_ascii=False)  # serialisable as the JSON export
    [logged] = await _audit(app, "customer.export")
    assert logged.actor == "aoi" and logged.entity_id == str(cid)
