"""The documents a dealer publishes or hands over, in a real browser (Playwright driving
Debian's chromium) on a running `outreach serve`: the /privacy page generated from the
registry, a disclosure (Art. 33) WITH provision and receipt records (an export to an insurer
under that insurer's consent, a receipt from a joint user), and the monthly compliance report
with a legal-obligation incident notice in it. Each at 1280 px and 390 px, screenshots in
tests/artifacts/documents-*.png; every page is Japanese, times are JST, staff are named by
their display names, and no go-live placeholder is printed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import sendkit
from browser_env import launch, need_chromium
from conftest import cli_env
from sqlalchemy import update
from staffkit import APPROVER, add_users, seed_customers
from test_console_browser import _config, _login, _serve

from outreach import bootstrap
from outreach.db.models import StaffUser
from outreach.gate import consent, purposes
from outreach.gate.context import load_context
from outreach.incidents import classes, register
from outreach.incidents import mail as incident_mail
from outreach.provision import insurer_export, records
from outreach.render import golive

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
OUTREACH = str(Path(sys.executable).with_name("outreach"))
WIDTHS = (1280, 390)
# Words a document for a customer or the dealer must not show: raw codes, English states,
# account-style actors, UTC stamps.
RAW = re.compile(
    r"staff:|cli:|insurer_share|joint_use|tokio_marine|incident_notice|\bconsent\b|"
    r"\bprovide\b|\breceive\b|\bsent\b|UTC|\+00:00|T\d\d:\d\d"
)


async def _seed(app: bootstrap.App, tmp_path: Path) -> dict[str, int]:
    await add_users(app, APPROVER)
    async with app.sessions() as s:  # staff are shown by name, never by their account
        await s.execute(
            update(StaffUser).where(StaffUser.username == APPROVER.username)
            .values(display_name="青井 葵")
        )  # fmt: skip
        await s.commit()
    ids = await seed_customers(app)
    now = app.clock.now()
    reg = purposes.load(REPO / "config" / "purposes.toml")
    async with app.sessions() as s:
        await consent.record_event(
            s, ids["C1"], action="grant", scope="insurer_share:tokio_marine", source="store",
            actor="staff:aoi", now=now,
        )  # fmt: skip
        await s.commit()
    async with app.sessions() as s:
        await insurer_export.run(
            s, reg, "tokio_marine", tmp_path / "tm.csv", now=now, actor="cli:test"
        )
    async with app.sessions() as s:
        await records.write(
            s,
            [
                records.Entry(
                    direction=records.RECEIVE, counterparty="トヨタ自動車株式会社",
                    customer_id=ids["C1"], items=("①", "②"), basis="joint_use", at=now,
                    detail={
                        "obtained_by": "共同利用（共同利用会社）により提供元から取得",
                        "item_labels": [f"① {reg.joint_use.items['①']}",
                                        f"② {reg.joint_use.items['②']}"],
                    },
                )
            ],
        )  # fmt: skip
        await s.commit()
    rules = classes.load(REPO / "config" / "incidents.toml")
    async with app.sessions() as s:
        inc = await register.record(
            s, rules, title="ご案内メールの誤送信", discovered_at=now, customer_ids=[ids["C4"]],
            items=["name", "email"], actor="aoi", now=now,
        )  # fmt: skip
    async with app.sessions() as s:
        result = await incident_mail.notify_by_mail(
            s, load_context(REPO / "config"), inc.id, app=app, actor="aoi", now=now
        )
    assert result.sent == 1
    return ids


def _clean(text: str, where: str) -> None:
    for marker in golive.MARKERS:
        assert marker not in text, (where, marker)
    raw = RAW.search(text)
    context = text[max(0, raw.start() - 80) : raw.end() + 80] if raw else ""
    assert raw is None, (where, context)


async def test_documents_read_as_documents(app: bootstrap.App, db_url: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    ids = await _seed(app, tmp_path)
    month = f"{app.clock.now():%Y-%m}"
    port = sendkit.free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    env = cli_env(
        db_url, tmp_path / "data", OUTREACH_CONFIG_DIR=_config(tmp_path), OUTREACH_BASE_URL=base
    )
    serve = _serve(env, port, tmp_path / "serve.log", "--no-worker")
    try:
        async with async_playwright() as p:
            browser = await launch(p)
            try:
                # the dealer's browser is Japanese (the month picker follows its locale)
                page = await browser.new_page(
                    viewport={"width": 1280, "height": 900}, locale="ja-JP",
                    timezone_id="Asia/Tokyo",
                )  # fmt: skip
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await _login(page, base, APPROVER.username)
                # the disclosure: one request recorded, then the document
                await page.goto(f"{base}/staff/customers/{ids['C1']}")
                await page.click("#disclose")
                await page.wait_for_selector("#d-provisions")
                disclosure_url = page.url
                prov = await page.inner_text("#d-provisions")
                assert "東京海上日動火災保険株式会社" in prov and "ご本人の同意" in prov
                assert "トヨタ自動車株式会社" in prov and "共同利用" in prov
                assert "提供" in prov and "受領" in prov and "同意による" in prov
                made = await page.inner_text("#d-request")
                assert "青井 葵" in made and APPROVER.username not in made
                pages = {
                    "privacy": f"{base}/privacy",
                    "disclosure": disclosure_url,
                    "report": f"{base}/staff/compliance?month={month}",
                }
                for name, url in pages.items():
                    for width in WIDTHS:
                        await page.set_viewport_size({"width": width, "height": 900})
                        await page.goto(url)
                        text = await page.inner_text("body")
                        # its stylesheet applies (the CSP allows no inline style)
                        styled = await page.evaluate(
                            "getComputedStyle(document.querySelector('main')).maxWidth"
                        )
                        assert styled != "none", (name, width)
                        _clean(text, f"{name}@{width}")
                        # nothing wider than the screen: a phone reads it without panning
                        overflow = await page.evaluate(
                            "document.documentElement.scrollWidth - window.innerWidth"
                        )
                        wide = await page.evaluate(
                            "[...document.querySelectorAll('body *')].filter(e =>"
                            " e.getBoundingClientRect().right > window.innerWidth + 1)"
                            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' '"
                            " + (e.textContent || '').slice(0, 30))"
                        )
                        assert overflow <= 1, (name, width, overflow, wide)
                        await page.screenshot(
                            path=str(ARTIFACTS / f"documents-{name}-{width}.png"), full_page=True
                        )
                report = await page.inner_text("body")
                # the person notified of the leak sees the notice in the send log, in words
                await page.set_viewport_size({"width": 1280, "height": 900})
                await page.goto(f"{base}/staff/customers/{ids['C4']}")
                await page.click("#disclose")
                await page.wait_for_selector("#d-messages")
                sent = await page.inner_text("#d-messages")
                assert "個人情報の漏えい等のお知らせ" in sent and "送信済み" in sent
                _clean(await page.inner_text("body"), "disclosure-notified")
                assert "法令に基づく通知" in report and "ご案内メールの誤送信" in report
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        serve.terminate()
        serve.wait(30)
