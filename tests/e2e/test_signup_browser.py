"""The sign-up flow in a real browser (Playwright driving Debian's chromium) on the running
app, on SQLite and PostgreSQL: the form, the confirmation mail caught by a real SMTP server,
the link followed, the grant recorded with its evidence — and the first advertising mail to
that address allowed only after it. Screenshots at 1280 and 390 px go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from browser_env import launch, need_chromium
from conftest import REPO
from pydantic import SecretStr
from sendkit import SmtpServer
from sqlalchemy import select
from staffkit import APPROVER, MARKETER, rules, spec

from outreach import bootstrap
from outreach import settings as settings_mod
from outreach.clock import FixedClock
from outreach.db.models import ConsentEvent, Customer, GateDecision, OutboxMessage, Vehicle
from outreach.gate import consent
from outreach.gate.context import load_context
from outreach.send import service as send_service
from outreach.signup import form as form_mod
from outreach.staff import campaigns, sending
from outreach.web.app import create_app

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "tests" / "artifacts"
ADDRESS = "aya.mori@example.jp"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as s:
        yield s


@pytest.fixture
async def served(
    app_settings: settings_mod.Settings, clock: FixedClock, smtp: SmtpServer
) -> AsyncIterator[bootstrap.App]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    update = {"base_url": base, "transport": "smtp", "smtp_url": SecretStr(smtp.url)}
    app = bootstrap.build(app_settings.model_copy(update=update), clock=clock)
    srv = uvicorn.Server(
        uvicorn.Config(create_app(app), log_level="warning", access_log=False, lifespan="on")
    )
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    yield app
    srv.should_exit = True
    await task
    sock.close()
    await app.close()


async def campaign(app: bootstrap.App, name: str) -> int:
    now = app.clock.now()
    async with app.sessions.begin() as s:
        c = await campaigns.create(s, spec(name=name), rules(), actor=MARKETER, now=now)
        await campaigns.approve(s, c.id, 1, rules(), actor=APPROVER, now=now)
        await campaigns.schedule(s, c.id, actor=MARKETER, now=now)
        cid = c.id
    await sending.fire_due(app.sessions, load_context(REPO / "config"), rules(), now=now)
    return cid


async def decision(app: bootstrap.App, campaign_id: int, customer_id: int) -> GateDecision:
    async with app.sessions() as s:
        d: GateDecision | None = await s.scalar(
            select(GateDecision).where(
                GateDecision.campaign_id == campaign_id, GateDecision.customer_id == customer_id
            )
        )
    assert d is not None
    return d


async def test_sign_up_in_chromium(
    served: bootstrap.App, clock: FixedClock, smtp: SmtpServer, db_url: str
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    app = served
    now = clock.now()
    async with app.sessions.begin() as s:  # a customer the DMS knows, without mail consent
        c = Customer(
            external_id="C-MORI", name_kanji="森 彩", prefecture="東京都", email=ADDRESS,
            created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(c)
        await s.flush()
        cid = c.id
        s.add(Vehicle(external_id="V-MORI", user_id=cid, car_name="NX", updated_at=now))
    before = await campaign(app, "冬のタイヤ交換フェア")
    d = await decision(app, before, cid)
    assert not d.allowed and "NO_EMAIL_CONSENT" in d.reasons  # no advertising before sign-up

    form = form_mod.from_settings(app.settings)
    engine = "pg" if db_url.startswith("postgresql") else "sqlite"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            for width in (1280, 390):
                view = await browser.new_page(viewport={"width": width, "height": 900})
                await view.goto(app.settings.base_url + "/signup")
                await view.screenshot(
                    path=str(ARTIFACTS / f"signup-form-{width}.png"), full_page=True
                )
                await view.close()
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(app.settings.base_url + "/signup")
            assert (await page.title()).startswith("メール配信のお申し込み")
            agree = page.locator("#agree")
            assert not await agree.is_checked()  # unticked by default (R16)
            assert f"送信者：{form.dealer.sender_name}" in await page.inner_text("#terms")
            await page.fill("#email", ADDRESS)
            await page.get_by_label("キャンペーン・イベント・新型車などのご案内").check()
            # without the consent box: refused, nothing sent
            await page.get_by_role("button", name="確認メールを送る").click()
            await page.wait_for_selector("#problems")
            assert not smtp.received
            assert errors == [  # the refusal's status (422) is the only console message
                "Failed to load resource: the server responded with a status of 422 "
                "(Unprocessable Entity)"
            ]
            errors.clear()
            await page.locator("#agree").check()
            await page.get_by_role("button", name="確認メールを送る").click()
            await page.wait_for_selector("#sent")
            await page.screenshot(path=str(ARTIFACTS / f"signup-sent-390-{engine}.png"))

            (mail,) = [m.parsed() for m in smtp.received]
            assert mail["To"] == ADDRESS
            body = mail.get_body(("plain",))
            assert body is not None
            found = re.search(r"(http\S+/signup/confirm/[A-Za-z0-9_-]+)", body.get_content())
            assert found is not None
            clock.advance(dt.timedelta(minutes=3))
            await page.goto(found.group(1))
            await page.screenshot(path=str(ARTIFACTS / f"signup-confirm-390-{engine}.png"))
            await page.get_by_role("button", name="登録を完了する").click()
            await page.wait_for_selector("#done")
            await page.screenshot(path=str(ARTIFACTS / f"signup-done-390-{engine}.png"))
            assert not errors, errors
        finally:
            await browser.close()

    async with app.sessions() as s:
        ev = await s.scalar(
            select(ConsentEvent).where(
                ConsentEvent.customer_id == cid, ConsentEvent.scope.like("email_opt_in:%")
            )
        )
        assert ev is not None and ev.action == "grant" and ev.legal_basis == "opt_in"
        assert ev.evidence["form_text"] == form.text
        assert ev.evidence["form_version"] == form.version
        assert ev.evidence["request_ip"] == "127.0.0.1"
        assert "Chrome" in (ev.evidence["request_user_agent"] or "")
        assert ev.evidence["purposes"] == ["p3"]
        assert await consent.verify(s) == []

    # the first advertising mail to her: allowed only now, and delivered
    smtp.handler.received.clear()
    after = await campaign(app, "新型RX発表会のご案内")
    assert (await decision(app, after, cid)).allowed
    clock.advance(dt.timedelta(minutes=1))
    await send_service.deliver_ready(app)
    async with app.sessions() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.campaign_id == after))
        assert row is not None and row.status == "sent" and row.basis == "opt_in"
    assert [m.rcpt_tos for m in smtp.received] == [[ADDRESS]]
