"""Every staff console page and every customer page, in Debian's chromium (Playwright), at
1280 px and 390 px wide: axe-core (from the npm registry, injected into the page) finds no
serious or critical violation, the visible text holds no code from the label catalogue and no
ISO timestamp, the customer pages do not scroll sideways on a phone, and a full-page
screenshot of each is kept under tests/artifacts/pages/.

Never downloads a browser: /usr/bin/chromium is the OS package (`make browser`, which also
installs axe-core into tests/e2e/axe).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import labelscan
import pytest
from browser_env import CHROMIUM, launch
from sqlalchemy import select
from staffkit import (
    ADMIN,
    APPROVER,
    MARKETER,
    PASSWORD,
    add_users,
    rules,
    seed_customers,
    serving,
    spec,
)

from outreach import bootstrap
from outreach.db.models import Customer, OutboxMessage, SendAttempt
from outreach.gate import consent
from outreach.optout import keys, tokens
from outreach.staff import campaigns, customers
from outreach.web.app import create_app

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "pages"
AXE = REPO / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""
# Buttons whose label wraps onto a second line (受信す/る): short labels must stay whole.
BROKEN_BUTTONS = """() => [...document.querySelectorAll("button")].filter(b => {
  const r = document.createRange(); r.selectNodeContents(b);
  const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
  return b.offsetParent !== null && b.innerText.trim().length <= 12 && tops.size > 1;
}).map(b => b.innerText.trim())"""
VISIBLE_TEXT = """() => {
  const c = document.body.cloneNode(true);
  c.querySelectorAll("pre.template, code, script, style, svg title").forEach(e => e.remove());
  return c.innerText || c.textContent;
}"""


def _need_tools() -> None:
    for path, how in ((CHROMIUM, "apt-get install chromium"), (AXE, "make browser")):
        if Path(path).exists():
            continue
        if os.geteuid() == 0:
            pytest.fail(f"{path} missing: {how}")
        pytest.skip(f"{path} missing: {how}")


async def _data(app: bootstrap.App) -> dict[str, Any]:
    """A small dealer: staff, customers, a draft and an approved campaign with sent mail, a
    disclosure and a correction on record, and one customer's opt-out token."""
    await add_users(app, MARKETER, APPROVER, ADMIN)
    ids = await seed_customers(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        c1 = await s.get(Customer, ids["C1"])
        assert c1 is not None
        c1.name_kana, c1.phone = "タカハシ イチロウ", "03-1018-9544"
        draft = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=now)
        sent = await campaigns.create(
            s, spec(name="春の点検フェア"), rules(), actor=MARKETER, now=now
        )
        await campaigns.approve(s, sent.id, 1, rules(), actor=APPROVER, now=now)
        for i, ext in enumerate(("C1", "C4", "C6")):
            m = OutboxMessage(
                idempotency_key=f"page-{ext}",
                customer_id=ids[ext],
                campaign_id=sent.id,
                purpose="p3",
                category="marketing",
                channel="email",
                kind="campaign",
                template=f"campaign:{sent.id}:v1",
                status="sent" if i < 2 else "queued",
                not_before=now,
                created_at=now,
                to_address=f"{ext.lower()}@example.jp",
                sent_at=now + dt.timedelta(minutes=i) if i < 2 else None,
            )
            s.add(m)
            await s.flush()
            if i < 2:
                s.add(SendAttempt(outbox_id=m.id, attempt=1, at=now, result="sent", smtp_code=250))
        await consent.record_event(
            s,
            ids["C1"],
            action="opt_out",
            scope="category:survey",
            source="preference_page",
            actor="customer",
            now=now,
        )
        disclosure = await customers.disclose(
            s, ids["C1"], actor=APPROVER.username, now=now, identity="license", delivery="paper"
        )
        correction = await customers.correct(
            s,
            ids["C1"],
            field="phone",
            value="03-1018-9545",
            reason="ご本人からの電話で確認",
            actor=APPROVER.username,
            now=now,
            identity="phone_callback",
        )
        ring = keys.ring(app.settings)
        m1 = await s.scalar(
            select(OutboxMessage.id).where(OutboxMessage.idempotency_key == "page-C1")
        )
    token = tokens.issue(
        ring.key,
        ring.kid,
        customer_id=ids["C1"],
        outbox_id=m1,
        scope=f"campaign:{sent.id}",
        purpose="p3",
        category="marketing",
        advertising=True,
    )
    return {
        "ids": ids,
        "draft": draft.id,
        "approved": sent.id,
        "disclosure": disclosure.id,
        "correction": correction.request_id,
        "token": token,
    }


def _staff_pages(d: dict[str, Any]) -> dict[str, str]:
    c1 = d["ids"]["C1"]
    return {
        "dashboard": "/staff/",
        "campaigns": "/staff/campaigns",
        "campaign-new": "/staff/campaigns/new",
        "campaign": f"/staff/campaigns/{d['approved']}",
        "campaign-draft": f"/staff/campaigns/{d['draft']}",
        "campaign-edit": f"/staff/campaigns/{d['draft']}/edit",
        "preview": f"/staff/campaigns/{d['draft']}/preview",
        "schedule": f"/staff/campaigns/{d['approved']}/schedule",
        "customers": "/staff/customers?q=たかはし",
        "customer": f"/staff/customers/{c1}",
        "disclosure": f"/staff/customers/{c1}/disclosures/{d['disclosure']}",
        "correction": f"/staff/customers/{c1}/corrections/{d['correction']}",
        "correction-notice": f"/staff/customers/{c1}/corrections/{d['correction']}/notice",
        "users": "/staff/users",
        "error": "/staff/campaigns/999999",
        # the dealer's day, feedback and the showroom form (their own routers)
        "calls": "/staff/calls",
        "letters": "/staff/letters",
        "sending": "/staff/sending",
        "conversion": "/staff/conversion",
        "feedback": "/staff/feedback/",
        "showroom": "/staff/showroom/signup",
    }


BY_ROLE = {
    APPROVER.username: [
        "dashboard",
        "campaigns",
        "campaign",
        "campaign-draft",
        "schedule",
        "customers",
        "customer",
        "disclosure",
        "correction",
        "correction-notice",
        "error",
        "calls",
        "letters",
        "sending",
        "conversion",
        "feedback",
        "showroom",
    ],
    MARKETER.username: ["campaign-new", "campaign-edit", "preview"],
    ADMIN.username: ["users"],
}


def _customer_pages(d: dict[str, Any]) -> dict[str, str]:
    return {
        "landing": "/",
        "optout": f"/u/{d['token']}",
        "preferences": f"/preferences/{d['token']}",
        "optout-bad-link": "/u/not-a-token",
        "signup": "/signup",
        "signup-bad-link": "/signup/confirm/not-a-token",
    }


async def _check(page: Any, name: str, width: int, *, phone_fit: bool) -> list[str]:
    """axe, the text scan, the width; a screenshot. Returns the problems found."""
    problems: list[str] = []
    await page.add_script_tag(path=str(AXE))
    for v in await page.evaluate(AXE_RUN):
        if v["impact"] in ("serious", "critical"):
            problems.append(f"{name}@{width}: axe {v['impact']} {v['id']} {v['nodes']}")
    text = await page.evaluate(VISIBLE_TEXT)
    for code in labelscan.findings(text):
        problems.append(f"{name}@{width}: shows code or ISO time {code!r}")
    if phone_fit:
        for label in await page.evaluate(BROKEN_BUTTONS):
            problems.append(f"{name}@{width}: button breaks mid-word: {label!r}")
    if phone_fit and width < 400:
        scroll = await page.evaluate("() => document.documentElement.scrollWidth")
        if scroll > width + 1:
            problems.append(f"{name}@{width}: scrolls sideways ({scroll}px)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    return problems


async def test_every_page_is_accessible_japanese_and_fits(app: bootstrap.App) -> None:
    _need_tools()
    from playwright.async_api import async_playwright

    d = await _data(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    async with serving(create_app(app)) as base, async_playwright() as p:
        browser = await launch(p)
        try:
            for width in WIDTHS:
                ctx = await browser.new_context(
                    viewport={"width": width, "height": 900}, bypass_csp=True, locale="ja-JP"
                )
                page = await ctx.new_page()
                await page.goto(f"{base}/staff/login")
                problems += await _check(page, "login", width, phone_fit=True)
                for name, path in _customer_pages(d).items():
                    await page.goto(base + path)
                    problems += await _check(page, name, width, phone_fit=True)
                await ctx.close()
                for user, names in BY_ROLE.items():
                    ctx = await browser.new_context(
                        viewport={"width": width, "height": 900}, bypass_csp=True, locale="ja-JP"
                    )
                    page = await ctx.new_page()
                    await page.goto(f"{base}/staff/login")
                    await page.fill("input[name=username]", user)
                    await page.fill("input[name=password]", PASSWORD)
                    await page.get_by_role("button", name="ログイン").click()
                    await page.wait_for_url(f"{base}/staff/")
                    for name in names:
                        path = _staff_pages(d)[name]
                        r = await page.goto(base + path)
                        expected = 404 if name == "error" else 200
                        assert r is not None and r.status == expected, (path, r and r.status)
                        problems += await _check(page, name, width, phone_fit=False)
                    await ctx.close()
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)
