"""The console's feedback page and the customer page's consent evidence in Chromium, at 1280
and 390 px (screenshots in tests/artifacts/): the alert, the tables, no console errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_env import launch, need_chromium
from conftest import REPO
from feedbackkit import customer, fixture, maildir, sent
from staffkit import PASSWORD, serving
from test_console_browser import _login

from outreach import bootstrap
from outreach.clock import FixedClock
from outreach.feedback import config, ingest, source
from outreach.signup import form as form_mod
from outreach.signup import service
from outreach.staff import users
from outreach.web.app import create_app

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "tests" / "artifacts"


async def test_feedback_and_customer_pages(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path, db_url: str
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    clock.at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    yahoo = await customer(app, "kenji.tanaka@yahoo.com")
    await sent(app, yahoo, "<71.d00df00dcafe0001@mail.example-lexus-dealer.jp>")
    for i in range(499):
        await sent(app, yahoo, f"<{7000 + i}.bb@mail.example-lexus-dealer.jp>")
    box = maildir(
        tmp_path / "r", fixture("arf_yahoo_cfl.eml"), fixture("dsn_gmail.eml"),
        fixture("dsn_postfix_full.eml"), fixture("dmarc_google.eml"),
    )  # fmt: skip
    await ingest.ingest(app, source.maildir(box), config.load(REPO / "config" / "feedback.toml"))
    form = form_mod.from_settings(app.settings)
    signer = await customer(app, "kaori@example.jp", opt_in=False)
    sub = service.Submission("kaori@example.jp", "", ("p3", "p4"), True, form.version)
    async with app.sessions.begin() as s:
        await users.add(
            s, username="aoi", password=PASSWORD, role="approver", actor="t", now=clock.now()
        )
        req = await service.request(
            s, form, sub, method="web_form", remote_addr="203.0.113.50",
            user_agent="Mozilla/5.0", staff_user=None, now=clock.now(),
        )  # fmt: skip
    assert req.token is not None
    async with app.sessions.begin() as s:
        await service.confirm(
            s, form, req.token, remote_addr="203.0.113.51", user_agent="UA", now=clock.now()
        )

    engine = "pg" if db_url.startswith("postgresql") else "sqlite"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with serving(create_app(app)) as base, async_playwright() as p:
        browser = await launch(p)
        try:
            for width in (1280, 390):
                ctx = await browser.new_context(viewport={"width": width, "height": 900})
                page = await ctx.new_page()
                errors: list[str] = []

                def on_console(m: ConsoleMessage, e: list[str] = errors) -> None:
                    if m.type == "error":
                        e.append(m.text)

                page.on("console", on_console)
                await _login(page, base, "aoi")
                await page.click("text=配信の反応")
                await page.wait_for_selector("#complaint-alert")
                text = await page.inner_text("#complaint-alert")
                assert "苦情率が 0.20%" in text and "警告基準 0.1%" in text
                assert "203.0.113.9" in await page.inner_text("#dmarc")
                await page.screenshot(
                    path=str(ARTIFACTS / f"feedback-{width}-{engine}.png"), full_page=True
                )
                await page.goto(f"{base}/staff/customers/{signer}")
                await page.click("#email-consent summary")
                evidence = await page.inner_text("#email-consent")
                assert "203.0.113.50" in evidence and form.sha256 in evidence
                await page.locator("#email-consent").screenshot(
                    path=str(ARTIFACTS / f"customer-evidence-{width}-{engine}.png")
                )
                assert not errors, errors
                await ctx.close()
        finally:
            await browser.close()
