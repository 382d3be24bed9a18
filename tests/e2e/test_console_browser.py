"""The staff console's main flows in a real browser (Playwright driving Debian's chromium) on a
running `outreach serve`, with `outreach campaign run-due` and `outreach worker` as real
processes sending to an in-process SMTP server.

Log in, create a campaign, see the preview with reason counts, fail to approve one's own
campaign, approve as a second user, schedule, fire, pause and resume, watch it send, and
export a customer's data. Screenshots of the preview and of the results are kept in
tests/artifacts/. Never downloads a browser: /usr/bin/chromium is the OS package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sendkit
from browser_env import launch, need_chromium
from conftest import cli_env
from staffkit import APPROVER, MARKETER, PASSWORD, add_users, seed_customers

from outreach import bootstrap

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
OUTREACH = str(Path(sys.executable).with_name("outreach"))
TEXT = (
    "{{ customer.name_kanji }}様\n{{ vehicle.car_name }}の冬支度フェアのご案内です。\n"
    '{% include "_base/footer.txt" %}\n'
)


def _config(tmp: Path) -> Path:
    """The shipped configuration, with email allowed around the clock (the test runs at any
    hour) and the public pages' per-address rate limit raised for one fast browser."""
    config = tmp / "config"
    shutil.copytree(REPO / "config", config)
    gate = (config / "gate.toml").read_text(encoding="utf-8")
    gate = re.sub(
        r'(\[windows\.email\]\nstart = )"[^"]*"\nend = "[^"]*"', r'\1"00:00"\nend = "24:00"', gate
    )
    (config / "gate.toml").write_text(gate, encoding="utf-8")
    optout = (config / "optout.toml").read_text(encoding="utf-8")
    optout = re.sub(r"rate_per_second = [0-9.]+", "rate_per_second = 500.0", optout)
    optout = re.sub(r"burst = [0-9]+", "burst = 1000", optout)
    (config / "optout.toml").write_text(optout, encoding="utf-8")
    return config


def _serve(env: dict[str, str], port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`outreach serve` (with `extra` options) as its own process, once it answers /healthz."""
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [OUTREACH, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return serve
        except httpx.TransportError:
            pass
        if serve.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.1)
    serve.kill()
    raise AssertionError(f"outreach serve did not start: {log.read_text()}")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([OUTREACH, *args], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


async def test_console_main_flows(app: bootstrap.App, db_url: str, tmp_path: Path) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    await add_users(app, MARKETER, APPROVER)
    ids = await seed_customers(app)
    port = sendkit.free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sendkit.SmtpServer() as smtp:
        env = cli_env(
            db_url,
            tmp_path / "data",
            OUTREACH_CONFIG_DIR=_config(tmp_path),
            OUTREACH_TRANSPORT="smtp",
            OUTREACH_SMTP_URL=smtp.url,
            OUTREACH_BASE_URL=base,
        )
        # --no-worker: the test pauses a campaign before `outreach worker --once` sends it;
        # --no-scheduler: it fires the campaign itself (`campaign run-due`), which the
        # scheduler's every-minute job would otherwise do first when the minute turns.
        serve = _serve(env, port, tmp_path / "serve.log", "--no-worker", "--no-scheduler")
        try:
            async with async_playwright() as p:
                browser = await launch(p)
                try:
                    await _flow(browser, base, env, smtp, ids)
                finally:
                    await browser.close()
        finally:
            serve.terminate()
            serve.wait(30)


async def _login(page: object, base: str, username: str) -> None:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.goto(f"{base}/staff/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    try:
        await page.wait_for_url(f"{base}/staff/", timeout=10_000)
    except Exception:
        raise AssertionError(page.url + await page.content()) from None


async def _flow(
    browser: object, base: str, env: dict[str, str], smtp: sendkit.SmtpServer, ids: dict[str, int]
) -> None:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    errors: list[str] = []

    # -- a marketer creates the campaign and previews it
    mika = await browser.new_page(viewport={"width": 1200, "height": 900})
    mika.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await mika.goto(f"{base}/staff/")
    assert mika.url.endswith("/staff/login")  # not logged in: refused, sent to the login
    await _login(mika, base, "mika")
    await mika.goto(f"{base}/staff/campaigns/new")
    await mika.fill("input[name=name]", "冬の点検フェア")
    await mika.check("input[name=purpose][value=p3]")
    await mika.select_option("select[name=cond_0_field]", "vehicle.car_name")
    await mika.select_option("select[name=cond_0_op]", "in")
    await mika.fill("input[name=cond_0_value]", "RX, NX")
    await mika.fill("input[name=subject_template]", "{{ customer.name_kanji }}様 冬の点検フェア")
    await mika.fill("textarea[name=text_template]", TEXT)
    await mika.fill("input[name=rate_per_second]", "20")
    await mika.wait_for_selector("text=利用目的に照らして問題ありません")  # live validation
    await mika.click("#save")
    await mika.wait_for_url(re.compile(r".*/staff/campaigns/\d+$"))
    cid = int(mika.url.rsplit("/", 1)[1])
    assert await mika.inner_text("#campaign-status") == "下書き"

    await mika.click("#preview-link")
    await mika.wait_for_selector("#allowed-email")
    # RX/NX drivers: C1, C2 (opted out), C3 (no address), C6, C7 (no email basis); C5 sold it
    assert await mika.inner_text("#audience-email") == "5"
    assert await mika.inner_text("#allowed-email") == "2"
    reasons = await mika.inner_text("table.reasons")
    # each person once, under their first reason; the rows add up to the audience
    for label in ("送信できる\t2", "配信停止済み\t1", "広告メールの同意等の記録なし\t2", "合計\t5"):
        assert label in reasons, reasons
    assert "OPTED_OUT" not in reasons
    assert "冬の点検フェア" in await mika.inner_text("article.sample")
    await mika.screenshot(path=str(ARTIFACTS / "console-preview.png"), full_page=True)

    await mika.goto(f"{base}/staff/campaigns/{cid}")
    assert not errors, errors
    await mika.click("#approve")  # a marketer, and the creator: refused
    await mika.wait_for_selector("p.error")
    assert "権限" in await mika.inner_text("p.error")
    assert errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    errors.clear()
    await mika.goto(f"{base}/staff/campaigns/{cid}")
    assert await mika.inner_text("#campaign-status") == "下書き"

    # -- an approver approves exactly this version and schedules it
    aoi = await (await browser.new_context()).new_page()
    aoi.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await _login(aoi, base, "aoi")
    await aoi.goto(f"{base}/staff/campaigns/{cid}")
    await aoi.click("#approve")
    await aoi.wait_for_selector("#schedule")
    assert await aoi.inner_text("#campaign-status") == "承認済み"
    await aoi.click("#schedule")  # a confirmation first: when, how many, rate, worker
    await aoi.wait_for_selector("#confirm-schedule")
    assert "送信できる方 2 人" in await aoi.inner_text("#confirm")
    await aoi.click("#confirm-schedule")
    await aoi.wait_for_selector("#pause")
    assert await aoi.inner_text("#campaign-status") == "配信予約済み"

    # -- the scheduled job fires it; staff pause before the worker runs, then resume
    fired = json.loads(_run(env, "campaign", "run-due", "--json").stdout)
    assert [(f["campaign_id"], f["queued"]) for f in fired] == [(cid, 2)]
    await mika.reload()
    assert await mika.inner_text("#campaign-status") == "配信中"
    waiting = int(await mika.inner_text("#queued")) + int(await mika.inner_text("#deferred"))
    assert waiting == 2
    await mika.click("#pause")
    await mika.wait_for_selector("#resume")
    assert await mika.inner_text("#paused") == "2"
    _run(env, "worker", "--once")
    assert smtp.received == []  # paused: nothing leaves
    await mika.click("#resume")
    await mika.wait_for_selector("#pause")
    _run(env, "worker", "--once")
    assert len(smtp.received) == 2
    subjects = sorted(str(r.parsed()["subject"]) for r in smtp.received)
    assert subjects == ["伊藤 五郎様 冬の点検フェア", "髙橋 一郎様 冬の点検フェア"]
    # the opt-out link of every campaign mail (one-click POST needs an https base URL)
    assert all(f"<{base}/u/" in str(r.parsed()["list-unsubscribe"]) for r in smtp.received)
    _run(env, "campaign", "run-due")  # nothing left queued: the campaign is done
    await mika.reload()
    assert await mika.inner_text("#sent") == "2"
    assert await mika.inner_text("#campaign-status") == "完了"
    assert await mika.locator("#results svg.chart rect").count() >= 1
    await mika.screenshot(path=str(ARTIFACTS / "console-results.png"), full_page=True)

    # -- the approver answers a disclosure request (Art. 33)
    await aoi.goto(f"{base}/staff/customers?q=髙橋")
    await aoi.get_by_role("link", name="髙橋 一郎").click()
    await aoi.wait_for_url(f"{base}/staff/customers/{ids['C1']}")
    await aoi.click("#disclose")  # one request recorded, then the document
    await aoi.wait_for_selector("#d-messages")
    sent = await aoi.inner_text("#d-messages")
    assert "キャンペーン" in sent and "送信済み" in sent and "campaign" not in sent
    await aoi.screenshot(path=str(ARTIFACTS / "console-export.png"), full_page=True)
    assert not errors, errors
