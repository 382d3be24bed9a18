"""End to end on both databases, through a real Postfix on loopback: a campaign mail that
Postfix accepts and then bounces comes back as a DSN into the report Maildir; ingest
suppresses the address; the next campaign skips it with its reason. A complaint about
another customer's mail (ARF) becomes an opt-out that the next campaign honours."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import postfixkit
import pytest
from conftest import REPO
from feedbackkit import maildir, variant
from sqlalchemy import select
from staffkit import APPROVER, MARKETER, rules, spec

from outreach import bootstrap, settings
from outreach.db.models import (
    ConsentEvent,
    Customer,
    EmailBasis,
    GateDecision,
    OutboxMessage,
    Suppression,
    Vehicle,
)
from outreach.feedback import service as feedback
from outreach.gate.context import load_context
from outreach.send import service as send_service
from outreach.staff import campaigns, sending

BOUNCING = "gone@customers.test"


@pytest.fixture
def postfix() -> Iterator[postfixkit.Postfix]:
    why = postfixkit.available()
    if why:
        pytest.skip(why)
    # a short path: Postfix's unix sockets live under the queue directory
    root = Path(tempfile.mkdtemp(prefix="pf", dir="/tmp"))
    pf = postfixkit.start(root, bounce=[BOUNCING])
    try:
        yield pf
    finally:
        pf.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path, postfix: postfixkit.Postfix) -> settings.Settings:
    return settings.Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        config_dir=REPO / "config",
        dealer_file=REPO / "config" / "dealer.demo.toml",
        secret_key="test-secret-key-not-for-production",
        base_url="https://dealer.example.jp",
        transport="smtp",
        smtp_url=postfix.url,
    )


async def seed(app: bootstrap.App) -> dict[str, int]:
    now = app.clock.now()
    ids = {}
    async with app.sessions.begin() as s:
        for key, email in [
            ("gone", BOUNCING),
            ("kept", "kept@customers.test"),
            ("complainer", "complainer@customers.test"),
        ]:
            c = Customer(
                external_id=f"P-{key}",
                name_kanji="佐藤 花子",
                prefecture="東京都",
                email=email,
                created_at=now,
                updated_at=now,
            )
            s.add(c)
            await s.flush()
            ids[key] = c.id
            s.add(Vehicle(external_id=f"V-{key}", user_id=c.id, car_name="RX", updated_at=now))
            s.add(
                EmailBasis(
                    customer_id=c.id,
                    email=email,
                    basis="opt_in",
                    evidence_at=now,
                    evidence_method="web_form",
                    evidence_text="LEXUSからのご案内メールを受け取る",
                )
            )
    return ids


async def run_campaign(app: bootstrap.App, name: str) -> tuple[int, dict[str, int]]:
    now = app.clock.now()
    async with app.sessions.begin() as s:
        c = await campaigns.create(s, spec(name=name), rules(), actor=MARKETER, now=now)
        cid = c.id
        await campaigns.approve(s, cid, 1, rules(), actor=APPROVER, now=now)
        await campaigns.schedule(s, cid, actor=MARKETER, now=now)
    await sending.fire_due(app.sessions, load_context(REPO / "config"), rules(), now=now)
    app.clock.advance(dt.timedelta(minutes=1))  # type: ignore[attr-defined]
    return cid, await send_service.deliver_ready(app)


async def test_bounce_and_complaint_through_postfix(
    app: bootstrap.App, postfix: postfixkit.Postfix
) -> None:
    ids = await seed(app)
    first, sent = await run_campaign(app, "冬のタイヤ交換フェア")
    assert sent.get("sent") == 3, (sent, postfix.log()[-2000:])  # Postfix said 250 to all
    async with app.sessions() as s:
        rows = {
            r.customer_id: r
            for r in (
                await s.scalars(select(OutboxMessage).where(OutboxMessage.campaign_id == first))
            ).all()
        }
    gone_mid = rows[ids["gone"]].message_id
    assert gone_mid

    # the DSN Postfix writes lands in the report Maildir; ingest suppresses the address
    (dsn_file,) = postfix.wait_for_mail(1)
    assert b"report-type=delivery-status" in dsn_file.read_bytes()
    result = await feedback.run(app, maildir=postfix.maildir)
    assert result.counts == {"suppressed": 1} and not result.rejected
    async with app.sessions() as s:
        sup = await s.scalar(select(Suppression).where(Suppression.email == BOUNCING))
        assert sup is not None and sup.reason == "hard_bounce"
        assert "5.1.1" in (sup.detail or "") and gone_mid in (sup.detail or "")

    # a complaint (a provider's FBL report) about the complainer's mail
    complaint = variant(
        "arf_generic.eml",
        1,
        **{
            "<72.0123456789abcdef@mail.example-lexus-dealer.jp>": rows[ids["complainer"]].message_id
        },
    )
    fbl = maildir(postfix.root / "fbl", complaint)
    result = await feedback.run(app, maildir=fbl)
    assert result.counts == {"opted_out": 1}
    async with app.sessions() as s:
        c = await s.get(Customer, ids["complainer"])
        assert c is not None and "category:marketing" in c.opt_outs
        ev = await s.scalar(select(ConsentEvent).where(ConsentEvent.customer_id == c.id))
        assert ev is not None and ev.source == "complaint"

    # the next campaign skips both, each with its reason, and sends to the third
    second, sent2 = await run_campaign(app, "新型RX発表会のご案内")
    async with app.sessions() as s:
        decisions = {
            d.customer_id: d
            for d in (
                await s.scalars(select(GateDecision).where(GateDecision.campaign_id == second))
            ).all()
        }
        queued = (
            await s.scalars(
                select(OutboxMessage.customer_id).where(OutboxMessage.campaign_id == second)
            )
        ).all()
    assert not decisions[ids["gone"]].allowed
    assert "CONTACT_UNREACHABLE" in decisions[ids["gone"]].reasons
    assert not decisions[ids["complainer"]].allowed
    assert "OPTED_OUT" in decisions[ids["complainer"]].reasons
    assert decisions[ids["kept"]].allowed
    assert list(queued) == [ids["kept"]] and sent2.get("sent") == 1
    # what Postfix did: the bounce once, the complainer once, the third customer twice
    log = postfix.log()
    assert log.count("to=<gone@customers.test>, relay=none") == 1
    assert "dsn=5.1.1, status=bounced (User unknown)" in log
    assert log.count("to=<complainer@customers.test>, relay=none") == 1
    assert log.count("to=<kept@customers.test>, relay=none") == 2
