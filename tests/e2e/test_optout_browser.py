"""A real browser (Playwright driving Debian's chromium) on the opt-out page of a running app.

Never downloads a browser: /usr/bin/chromium comes from the OS package (`make browser`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.db.models import ConsentEvent, Customer
from outreach.gate import consent
from outreach.optout import keys, tokens
from outreach.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)

pytestmark = pytest.mark.browser


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() == 0:
        pytest.fail(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} missing and not root: `sudo apt-get install chromium`")


@pytest.fixture
async def server(app: bootstrap.App) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(app), log_level="warning", access_log=False, lifespan="on")
    )
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task
    sock.close()


async def test_browser_stops_all_marketing(app: bootstrap.App, server: str, tmp_path: Path) -> None:
    _need_chromium()
    from playwright.async_api import async_playwright

    async with app.sessions.begin() as s:
        await s.execute(
            insert(Customer).values(
                external_id="C1",
                name_kanji="髙橋 一郎",
                email="takahashi@example.jp",
                created_at=T0,
                updated_at=T0,
            )
        )
        cid = int((await s.execute(select(Customer.id))).scalar_one())
    ring = keys.ring(app.settings)
    token = tokens.issue(
        ring.key,
        ring.kid,
        customer_id=cid,
        outbox_id=41,
        scope="kind:shaken",
        purpose="p2",
        category="service_notice",
        advertising=False,
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(tokens.optout_url(server, token))
            assert (await page.title()).startswith("配信停止のお手続き｜ジャミール商事")
            assert "t***@e***.jp" in await page.inner_text("main")
            # The stylesheet loaded under the strict CSP (no violation in the console).
            width = await page.evaluate("getComputedStyle(document.querySelector('button')).width")
            assert width != "auto"
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
        assert await consent.verify(s) == []
