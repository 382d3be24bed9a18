"""The call list in a real browser (Playwright driving Debian's chromium) on a running
`outreach serve`: record a booking, a wrong number and an opt-out by phone, and check each
write-back in the database. Screenshots at 1280 and 390 px are kept in tests/artifacts/.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import dailykit as kit
import pytest
import sendkit
from browser_env import launch, need_chromium
from conftest import cli_env
from sqlalchemy import insert, select
from staffkit import APPROVER, add_users
from test_console_browser import ARTIFACTS, _login, _serve

from outreach import bootstrap, daily
from outreach.clock import JST, FixedClock
from outreach.db.models import ConsentEvent, Customer, OutboxMessage, Store, Vehicle

pytestmark = pytest.mark.browser

OUTREACH = str(Path(sys.executable).with_name("outreach"))
DAY = dt.date(2026, 4, 30)  # Thursday: shaken stage 2 for expiry 6/30
# The booked visit: after the call, which `serve` records at the real time.
VISIT = dt.datetime.now(JST).date() + dt.timedelta(days=20)


async def _seed(app: bootstrap.App, clock: FixedClock) -> dict[str, int]:
    async with app.sessions() as s, s.begin():
        store = (
            await s.execute(
                insert(Store)
                .values(code="S01", name="レクサス新宿", phone="03-1111-2222", closing_weekdays=[3])
                .returning(Store.id)
            )
        ).scalar_one()
        ids = {}
        for n, key in ((1, "booked"), (2, "wrong"), (3, "optout"), (4, "left")):
            c = await kit.customer(s, n, email=False, post=False, store_id=store)
            await kit.vehicle(s, n, c, shaken_expiry_on=dt.date(2026, 6, 30))
            ids[key] = c
        letter = await kit.customer(s, 5, email=False, phone=False, store_id=store)
        await kit.vehicle(s, 5, letter, shaken_expiry_on=dt.date(2026, 6, 30))
        ids["letter"] = letter
    clock.at = dt.datetime.combine(DAY, dt.time(8, 0), tzinfo=JST)
    summary = await daily.run(app, DAY)
    assert summary.queued == 5
    async with app.sessions() as s, s.begin():
        # A later stage of the booked customer's cycle already queued (e.g. a letter): the
        # booking must cancel it.
        row = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.customer_id == ids["booked"]))
        ).scalar_one()
        await s.execute(
            insert(OutboxMessage).values(
                idempotency_key="later-stage-of-the-cycle",
                customer_id=row.customer_id,
                vehicle_id=row.vehicle_id,
                purpose=row.purpose,
                category=row.category,
                channel="post",
                kind="shaken",
                stage="3",
                due_on=row.due_on,
                template="reminder_shaken_3",
                items=row.items,
                advertising=True,
                status="queued",
                not_before=row.not_before,
                attempts=0,
                created_at=row.created_at,
            )
        )
    return ids


async def test_call_list_outcomes_write_back(
    app: bootstrap.App, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    await add_users(app, APPROVER)
    ids = await _seed(app, clock)
    port = sendkit.free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    env = cli_env(db_url, tmp_path / "data", OUTREACH_BASE_URL=base)
    serve = _serve(env, port, tmp_path / "serve.log")
    errors: list[str] = []
    try:
        async with async_playwright() as p:
            browser = await launch(p)
            try:
                page = await browser.new_page(
                    viewport={"width": 1280, "height": 900}, locale="ja-JP"
                )
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                await _login(page, base, "aoi")
                await page.get_by_role("link", name="電話リスト").click()
                await page.goto(f"{base}/staff/calls?day={DAY.isoformat()}")
                assert await page.inner_text("#call-count") == "4"
                assert "2026年4月30日(木)" in await page.inner_text("h1")
                text = await page.inner_text("main")
                assert "車検のご案内（第2段階）" in text and "10:00〜19:00" in text
                await page.screenshot(path=str(ARTIFACTS / "calls-1280.png"), full_page=True)

                async def record(customer: int, outcome: str, on: str = "") -> None:
                    async with app.sessions() as s:
                        oid = (
                            await s.execute(
                                select(OutboxMessage.id).where(
                                    OutboxMessage.customer_id == customer,
                                    OutboxMessage.channel == "phone",
                                )
                            )
                        ).scalar_one()
                    card = page.locator(f"#call-{oid}")
                    await card.locator(f"input[name=outcome][value={outcome}]").check()
                    if on:
                        await card.locator("input[name=on_date]").fill(on)
                    await card.locator("input[name=note]").fill("電話で受付")
                    await card.get_by_role("button", name="記録する").click()
                    await page.wait_for_selector("p.notice")
                    assert f"管理番号 {oid}" in await page.inner_text("p.notice")

                await record(ids["booked"], "booked", VISIT.isoformat())
                await record(ids["wrong"], "wrong_number")
                await record(ids["optout"], "opt_out")
                assert await page.inner_text("#call-count") == "1"  # the one left to call

                # The print batch of the day: confirm it as sent to print.
                await page.get_by_role("link", name="印刷").click()
                await page.wait_for_selector("#batch-2026-04-30")
                assert "未手配 1 通" in await page.inner_text("#batch-2026-04-30")
                await page.get_by_role("button", name="印刷に回した").click()
                await page.wait_for_selector("p.notice")
                assert "印刷手配済み" in await page.inner_text("#batch-2026-04-30")
                await page.screenshot(path=str(ARTIFACTS / "letters-1280.png"), full_page=True)
                pdf = await page.request.get(f"{base}/staff/letters/2026-04-30/pdf")
                assert pdf.ok and (await pdf.body()).startswith(b"%PDF")
                # The conversion report counts the booking taken on the phone.
                await page.get_by_role("link", name="入庫率").click()
                await page.wait_for_selector("svg.chart")
                report = await page.inner_text("main")
                assert "車検 第2段階 電話" in report and "車検 第2段階 郵便" in report
                assert "ご案内 3 件のうち入庫 1 件" in report  # 2 calls worked, 1 letter
                await page.screenshot(path=str(ARTIFACTS / "conversion-1280.png"), full_page=True)
                # The sending state: the worker inside `serve` beats.
                await page.get_by_role("link", name="送信状況").click()
                for _ in range(60):  # its first beat comes once `serve` has started it
                    if "稼働中" in await page.inner_text("main"):
                        break
                    await page.wait_for_timeout(1000)
                    await page.reload()
                log = (tmp_path / "serve.log").read_text(errors="replace")
                assert "（serve 内）" in await page.inner_text("main"), log
                await page.screenshot(path=str(ARTIFACTS / "sending-1280.png"), full_page=True)

                mobile = await browser.new_page(
                    viewport={"width": 390, "height": 844}, locale="ja-JP"
                )
                await _login(mobile, base, "aoi")
                await mobile.goto(f"{base}/staff/calls?day={DAY.isoformat()}")
                await mobile.screenshot(path=str(ARTIFACTS / "calls-390.png"), full_page=True)
                wide = await mobile.evaluate("document.documentElement.scrollWidth")
                assert wide <= 390, wide  # no sideways scrolling on a phone
                for name in ("letters", "sending", "conversion"):
                    await mobile.goto(f"{base}/staff/{name}")
                    await mobile.screenshot(path=str(ARTIFACTS / f"{name}-390.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        serve.terminate()
        serve.wait(30)
    assert not errors, errors

    async with app.sessions() as s:
        rows = {
            (r.customer_id, r.channel, r.stage): r
            for r in (await s.scalars(select(OutboxMessage))).all()
        }
        cust = {c.id: c for c in (await s.scalars(select(Customer))).all()}
        booked_on = (
            await s.execute(select(Vehicle.booked_on).where(Vehicle.user_id == ids["booked"]))
        ).scalar_one()
        events = (
            await s.execute(
                select(
                    ConsentEvent.customer_id,
                    ConsentEvent.action,
                    ConsentEvent.scope,
                    ConsentEvent.source,
                )
            )
        ).all()
    # booked: the call is done, the vehicle booked, the later stage of the cycle cancelled
    assert rows[(ids["booked"], "phone", "2")].status == "called"
    assert booked_on == VISIT
    assert rows[(ids["booked"], "post", "3")].status == "cancelled"
    # wrong number: the phone is unreachable, the call cancelled
    assert cust[ids["wrong"]].phone_unreachable_at is not None
    assert rows[(ids["wrong"], "phone", "2")].status == "cancelled"
    # opt-out by phone: into the consent ledger, on the customer record
    assert events == [(ids["optout"], "opt_out", "channel:phone", "phone")]
    assert "channel:phone" in cust[ids["optout"]].opt_outs
    assert rows[(ids["left"], "phone", "2")].status == "queued"
    # the letter: printed, with who and when
    printed = rows[(ids["letter"], "post", "2")]
    assert (printed.status, printed.printed_by) == ("printed", "aoi")
    assert printed.printed_at is not None
