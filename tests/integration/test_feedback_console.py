"""The console's feedback page and the customer page's consent evidence, against the running
app with a staff login, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import httpx
from conftest import REPO
from feedbackkit import customer, fixture, maildir, sent
from staffkit import PASSWORD, serving

from outreach import bootstrap
from outreach.clock import FixedClock
from outreach.feedback import config, ingest, source
from outreach.signup import form as form_mod
from outreach.signup import service
from outreach.staff import customers as staff_customers
from outreach.staff import users
from outreach.web.app import create_app


async def login(http: httpx.AsyncClient, base: str, username: str) -> None:
    r = await http.post(
        "/staff/login", data={"username": username, "password": PASSWORD}, headers={"origin": base}
    )
    assert r.status_code == 303


async def test_feedback_page_shows_rates_alerts_bounces_and_dmarc(
    app: bootstrap.App, clock: FixedClock, tmp_path: Path
) -> None:
    clock.at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    yahoo = await customer(app, "kenji.tanaka@yahoo.com")
    others = [await customer(app, f"c{i}@example.jp") for i in range(3)]
    await sent(app, yahoo, "<71.d00df00dcafe0001@mail.example-lexus-dealer.jp>")
    for i in range(599):
        await sent(app, others[i % 3], f"<{5000 + i}.aa@mail.example-lexus-dealer.jp>")
    box = maildir(
        tmp_path / "r", fixture("arf_yahoo_cfl.eml"), fixture("dsn_gmail.eml"),
        fixture("dmarc_google.eml"),
    )  # fmt: skip
    await ingest.ingest(app, source.maildir(box), config.load(REPO / "config" / "feedback.toml"))
    async with app.sessions.begin() as s:
        await users.add(
            s, username="mika", password=PASSWORD, role="marketer", actor="t", now=clock.now()
        )
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/staff/feedback/")).status_code == 303  # login first
        await login(http, base, "mika")
        r = await http.get("/staff/feedback/")
        assert r.status_code == 200
        html = r.text
        assert "配信の反応（バウンス・苦情・DMARC）" in html
        # 1 complaint of 600 campaign mails on 12/1 = 0.167 %: above the 0.1 % alert
        assert (
            'id="complaint-alert"' in html and "2026年12月1日のキャンペーンの苦情率が 0.17%" in html
        )
        assert "警告基準 0.1% を超えています" in html
        assert "203.0.113.9" in html and "新しい送信元" in html
        assert "ta***@gmail.com" in html and "taro.yamada.gone@gmail.com" not in html
        assert "ke***@yahoo.com" in html
        assert re.search(r"<dt>ハードバウンス</dt><dd>1</dd>", html)
        # the console's navigation leads here
        dash = await http.get("/staff/")
        assert 'href="/staff/feedback/"' in dash.text


async def test_customer_page_shows_the_sign_up_evidence(
    app: bootstrap.App, clock: FixedClock
) -> None:
    cid = await customer(app, "kaori@example.jp", opt_in=False)
    form = form_mod.from_settings(app.settings)
    sub = service.Submission("kaori@example.jp", "", ("p3",), True, form.version)
    async with app.sessions.begin() as s:
        await users.add(
            s, username="aoi", password=PASSWORD, role="approver", actor="t", now=clock.now()
        )
        req = await service.request(
            s, form, sub, method="showroom_tablet", remote_addr="10.0.0.7",
            user_agent="Tablet", staff_user="aoi", now=clock.now(),
        )  # fmt: skip
    assert req.token is not None
    async with app.sessions.begin() as s:
        await service.confirm(
            s, form, req.token, remote_addr="198.51.100.4", user_agent="Phone", now=clock.now()
        )
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        await login(http, base, "aoi")
        html = (await http.get(f"/staff/customers/{cid}")).text
        assert "メール受信の同意と証跡" in html
        assert "店頭タブレット" in html and f"フォーム版 {form.version}" in html
        assert "10.0.0.7" in html and "198.51.100.4" in html and ">aoi<" in html
        assert form.sha256 in html
        assert "double_opt_in_showroom" in html
    async with app.sessions() as s, s.begin():  # the Art. 33 disclosure's data
        export = await staff_customers.export(s, cid, actor="aoi", now=clock.now())
    assert form.sha256 in json.dumps(export.to_json(), ensure_ascii=False, default=str)
