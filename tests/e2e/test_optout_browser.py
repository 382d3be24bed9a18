"""A real browser (Playwright driving Debian's chromium) opens the opt-out link of a mail
received by an in-process SMTP server, on the running app, and stops all marketing.

Never downloads a browser: /usr/bin/chromium comes from the OS package (`make browser`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import dailykit
import pytest
import sendkit
import uvicorn
from browser_env import launch, need_chromium
from sqlalchemy import select

from outreach import bootstrap, daily, pipeline
from outreach import settings as settings_mod
from outreach.clock import JST, FixedClock
from outreach.db.models import ConsentEvent, Customer
from outreach.gate import consent
from outreach.send import service, smtp
from outreach.web.app import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(app_settings: object, clock: FixedClock) -> AsyncIterator[bootstrap.App]:
    """An App whose mail links point at its own web app, served by uvicorn on loopback."""
    assert isinstance(app_settings, settings_mod.Settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = bootstrap.build(app_settings.model_copy(update={"base_url": base}), clock=clock)
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


async def received_link(app: bootstrap.App, clock: FixedClock) -> tuple[int, str]:
    """A real reminder mail sent to an in-process SMTP server; its opt-out link."""
    day = dt.date(2026, 4, 30)  # shaken stage 2 for an expiry on 6/30
    clock.at = dt.datetime.combine(day, dt.time(10, 0), tzinfo=JST)
    async with app.sessions() as s, s.begin():
        cid = await dailykit.customer(s, 1)
        await dailykit.vehicle(s, 1, cid, shaken_expiry_on=dt.date(2026, 6, 30))
    await daily.run(app, day)
    with sendkit.SmtpServer() as server:
        transport = smtp.SmtpTransport(smtp.parse_url(server.url), 1)
        worker = service.build_worker(app, transport=transport)
        await pipeline.run_batch(worker)
        await transport.close()
        (mail,) = [m.parsed() for m in server.received]
    (link,) = re.findall(r"<(http[^>]+)>", str(mail["List-Unsubscribe"]))
    assert link.startswith(app.settings.base_url + "/u/")
    return cid, link


async def test_browser_stops_all_marketing(
    served: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    app = served
    cid, link = await received_link(app, clock)
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(link)
            # the page names the dealer of the file in use (the demo dealer in tests)
            title = f"配信停止のお手続き｜{app.policy.dealer.sender_name}"
            assert (await page.title()).startswith(title)
            assert "c***@e***.jp" in await page.inner_text("main")
            assert "車検のご案内" in await page.inner_text("main")
            # The stylesheet loaded under the strict CSP (and no violation in the console).
            bg = await page.evaluate(
                "getComputedStyle(document.querySelector('button')).backgroundColor"
            )
            assert bg == "rgb(26, 26, 26)"
            await page.get_by_text("すべての広告メールを停止").click()
            await page.get_by_role("button", name="この内容で停止する").click()
            await page.wait_for_selector("text=お手続きが完了しました")
            await page.screenshot(path=str(tmp_path / "done.png"), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()

    async with app.sessions() as s:
        c = await s.get(Customer, cid)
        assert c is not None
        assert c.opt_outs == ["category:marketing"]
        ev = (await s.execute(select(ConsentEvent))).scalar_one()
        assert (ev.source, ev.evidence["choice"]) == ("link", "marketing")
        assert ev.evidence["outbox_id"] is not None
        assert await consent.verify(s) == []
