"""An address change asks for confirmation again (R16), on SQLite and PostgreSQL: the old
opt-in does not carry over to the new address; the new address gets one confirmation mail;
following it allows advertising again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import REPO
from feedbackkit import customer
from sendkit import SmtpServer
from sqlalchemy import select, update

from outreach import bootstrap, settings
from outreach.clock import JST, FixedClock
from outreach.db.models import Customer, SignupRequest
from outreach.gate import batch
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.signup import form as form_mod
from outreach.signup import mail, reconfirm, service

AD = Request(purpose="p3", channel="email", kind="campaign", advertising=True)


@pytest.fixture
def smtp() -> SmtpServer:  # type: ignore[misc]
    with SmtpServer() as s:
        yield s


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path, smtp: SmtpServer) -> settings.Settings:
    return settings.Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        config_dir=REPO / "config",
        dealer_file=REPO / "config" / "dealer.demo.toml",
        secret_key="test-secret-key-not-for-production",
        transport="smtp",
        smtp_url=smtp.url,
    )


async def test_address_change_asks_again(app: bootstrap.App, smtp: SmtpServer) -> None:
    form = form_mod.from_settings(app.settings)
    ctx = load_context(REPO / "config")
    now = app.clock.now()
    cid = await customer(app, "old@example.jp", opt_in=False)
    untouched = await customer(app, "never@example.jp", opt_in=False)
    sub = service.Submission("old@example.jp", "", ("p3",), True, form.version)
    async with app.sessions.begin() as s:
        req = await service.request(
            s, form, sub, method="web_form", remote_addr="192.0.2.1", user_agent=None,
            staff_user=None, now=now,
        )  # fmt: skip
    assert req.token
    async with app.sessions.begin() as s:
        await service.confirm(s, form, req.token, remote_addr=None, user_agent=None, now=now)
    async with app.sessions() as s:
        (d,) = await batch.decide_for(s, ctx, [(cid, AD)], now)
        assert d.allowed
    assert await reconfirm.ask(app, form, ctx) == reconfirm.Asked(0, 0)  # nothing changed yet

    async with app.sessions.begin() as s:  # the DMS import brings a new address
        await s.execute(update(Customer).where(Customer.id == cid).values(email="New@Example.jp"))
    async with app.sessions() as s:
        (d,) = await batch.decide_for(s, ctx, [(cid, AD)], now)
        assert "NO_EMAIL_CONSENT" in d.reasons  # the old opt-in does not carry over

    assert await reconfirm.ask(app, form, ctx) == reconfirm.Asked(1, 1)
    assert await reconfirm.ask(app, form, ctx) == reconfirm.Asked(0, 0)  # asked once, ever
    (mail,) = [m for m in smtp.received if m.rcpt_tos == ["new@example.jp"]]
    assert "メール配信お申し込みの確認" in str(mail.parsed()["Subject"])
    async with app.sessions() as s:
        row = await s.scalar(select(SignupRequest).where(SignupRequest.method == "address_change"))
        assert row is not None and row.customer_id == cid and row.purposes == ["p3"]
        assert row.sent
    body = mail.parsed().get_body(("plain",))
    assert body is not None
    token = body.get_content().split("/signup/confirm/")[1].split()[0]
    async with app.sessions.begin() as s:
        done = await service.confirm(s, form, token, remote_addr=None, user_agent=None, now=now)
        assert done.customer_ids == (cid,) and untouched not in done.customer_ids
    async with app.sessions() as s:
        (d,) = await batch.decide_for(s, ctx, [(cid, AD)], now)
        assert d.allowed


async def test_a_night_sign_up_is_mailed_when_the_window_opens(
    app: bootstrap.App, smtp: SmtpServer, clock: FixedClock
) -> None:
    form = form_mod.from_settings(app.settings)
    ctx = load_context(REPO / "config")
    clock.at = dt.datetime(2026, 1, 5, 23, 30, tzinfo=JST)  # outside the 08:00–21:00 window
    sub = service.Submission("night@example.jp", "", ("p3",), True, form.version)
    async with app.sessions.begin() as s:
        req = await service.request(
            s, form, sub, method="web_form", remote_addr=None, user_agent=None,
            staff_user=None, now=clock.now(),
        )  # fmt: skip
    assert req.request_id is not None and req.token is not None
    assert not await mail.send_one(app, form, ctx, req.request_id, req.token)  # deferred
    assert not smtp.received
    assert await mail.send_pending(app, form, ctx) == 0  # still night
    clock.at = dt.datetime(2026, 1, 6, 8, 0, tzinfo=JST)
    assert await mail.send_pending(app, form, ctx) == 1
    assert await mail.send_pending(app, form, ctx) == 0  # sent once
    (m,) = smtp.received
    body = m.parsed().get_body(("plain",))
    assert body is not None
    token = body.get_content().split("/signup/confirm/")[1].split()[0]
    assert token != req.token  # a fresh link: the first one was never mailed
    async with app.sessions.begin() as s:
        done = await service.confirm(
            s, form, token, remote_addr=None, user_agent=None, now=clock.now()
        )
    assert not done.already and len(done.customer_ids) == 1
