"""The sign-up flow against the running app (uvicorn on loopback, a real HTTP client, a real
SMTP server), on SQLite and PostgreSQL: form, confirmation mail, link, grant with evidence;
the same answer for customers and strangers; limits; the showroom tablet under a staff login."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO
from feedbackkit import customer
from sendkit import SmtpServer
from sqlalchemy import func, select
from staffkit import PASSWORD, serving

from outreach import bootstrap, settings
from outreach.clock import FixedClock
from outreach.db.models import ConsentEvent, Customer, EmailBasis, SignupRequest
from outreach.gate import batch, consent
from outreach.gate.context import load_context
from outreach.gate.decision import Request
from outreach.signup import form as form_mod
from outreach.signup import service
from outreach.staff import users
from outreach.web.app import create_app

LINK = re.compile(r"(https?://\S+/signup/confirm/[A-Za-z0-9_-]+)")
AD = Request(purpose="p3", channel="email", kind="campaign", advertising=True, items=frozenset())


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
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


def fields(email: str, *purposes: str, agree: bool = True, name: str = "") -> dict[str, object]:
    form = form_mod.load(REPO / "config", REPO / "templates")  # the version only
    data: dict[str, object] = {"email": email, "name": name, "form_version": form.version}
    data["purposes"] = list(purposes)
    if agree:
        data["agree"] = "yes"
    return data


def confirmation_link(smtp: SmtpServer, to: str) -> str:
    mails = [m for m in smtp.received if to in m.rcpt_tos]
    assert mails, f"no confirmation mail to {to}"
    body = mails[-1].parsed().get_body(("plain",))
    assert body is not None
    m = LINK.search(body.get_content())
    assert m is not None
    return m.group(1)


async def test_sign_up_confirm_and_evidence(
    app: bootstrap.App, smtp: SmtpServer, clock: FixedClock
) -> None:
    cid = await customer(app, "Kaori.Ito@Example.JP", opt_in=False)
    ctx = load_context(app.settings.config_dir)
    async with app.sessions() as s:
        (before,) = await batch.decide_for(s, ctx, [(cid, AD)], clock.now())
    assert "NO_EMAIL_CONSENT" in before.reasons

    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        page = await http.get("/signup")
        assert page.status_code == 200
        html = page.text
        assert 'name="agree" value="yes" id="agree">' in html  # unticked by default (R16)
        assert "checked" not in html
        assert "ジャミール商事株式会社" in html  # the sender is named (R16)
        # refused: nothing ticked
        bad = await http.post("/signup", data=fields("kaori.ito@example.jp", agree=False))
        assert bad.status_code == 422 and "同意のチェック" in bad.text and not smtp.received
        r = await http.post(
            "/signup", data=fields("kaori.ito@example.jp", "p3"), headers={"user-agent": "UA/1"}
        )
        assert r.status_code == 200 and "確認メールをお送りしました" in r.text
        mail = smtp.received[-1]
        assert mail.mail_from == app.settings.reminder_from
        parsed = mail.parsed()
        assert "List-Unsubscribe" not in parsed  # a confirmation, not advertising
        link = confirmation_link(smtp, "kaori.ito@example.jp")

        # nothing granted before the link is followed; a GET (link scanners) grants nothing
        shown = await http.get(link.replace(app.settings.base_url, ""))
        assert shown.status_code == 200 and "登録を完了する" in shown.text
        async with app.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(ConsentEvent)) == 0
        clock.advance(dt.timedelta(minutes=5))
        done = await http.post(link.replace(app.settings.base_url, ""))
        assert done.status_code == 200 and "お申し込みが完了しました" in done.text
        again = await http.post(link.replace(app.settings.base_url, ""))
        assert "すでに完了" in again.text

    async with app.sessions() as s:
        events = (
            await s.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.customer_id == cid)
                .order_by(ConsentEvent.seq)
            )
        ).all()
        assert [(e.action, e.scope) for e in events] == [
            ("grant", service.address_scope("kaori.ito@example.jp")),
            ("grant", "purpose:p3"),
        ]
        ev = events[0].evidence
        form = form_mod.from_settings(app.settings)
        assert ev["form_text"] == form.text and ev["form_version"] == form.version
        assert ev["form_sha256"] == form.sha256
        assert ev["method"] == "web_form" and ev["staff_user"] is None
        assert ev["request_ip"] == "127.0.0.1" and ev["request_user_agent"] == "UA/1"
        assert ev["purposes"] == ["p3"] and ev["channels"] == ["email"]
        assert ev["confirmed_at"] > ev["requested_at"]
        basis = await s.scalar(select(EmailBasis).where(EmailBasis.customer_id == cid))
        assert basis is not None and basis.basis == "opt_in"
        assert basis.email == "Kaori.Ito@Example.JP"  # the customer's address as stored
        assert basis.evidence_text == form.text
        assert await consent.verify(s) == []
        (after,) = await batch.decide_for(s, ctx, [(cid, AD)], clock.now())
        assert "NO_EMAIL_CONSENT" not in after.reasons


async def test_same_answer_for_strangers_and_a_new_record(
    app: bootstrap.App, smtp: SmtpServer
) -> None:
    await customer(app, "known@example.jp", opt_in=False)
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        known = await http.post("/signup", data=fields("known@example.jp", "p3"))
        stranger = await http.post("/signup", data=fields("new.person@example.jp", "p3", "p4"))
        assert known.status_code == stranger.status_code == 200
        assert known.text == stranger.text  # no enumeration of who is a customer
        assert len(smtp.received) == 2
        one = smtp.received[0].parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "お心当たりがない場合" in one
        link = confirmation_link(smtp, "new.person@example.jp")
        await http.post(link.replace(app.settings.base_url, ""), data={})
    async with app.sessions() as s:
        c = await s.scalar(select(Customer).where(Customer.email == "new.person@example.jp"))
        assert c is not None and c.external_id.startswith("W")
        assert set(c.consents) >= {"purpose:p3", "purpose:p4"}


async def test_limits_per_address_and_per_client(app: bootstrap.App, smtp: SmtpServer) -> None:
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        answers = [
            (await http.post("/signup", data=fields("victim@example.jp", "p3"))).text
            for _ in range(5)
        ]
        assert len(set(answers)) == 1  # the same page every time …
        assert len(smtp.received) == 3  # … but no more than 3 mails a day to one address
        for i in range(17):
            await http.post("/signup", data=fields(f"x{i}@example.jp", "p3"))
        refused = await http.post("/signup", data=fields("late@example.jp", "p3"))
        assert refused.status_code == 429
    async with app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SignupRequest)) == 20


async def test_expired_link_and_foreign_origin(
    app: bootstrap.App, clock: FixedClock, smtp: SmtpServer
) -> None:
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        foreign = await http.post(
            "/signup", data=fields("a@example.jp", "p3"), headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and not smtp.received
        await http.post("/signup", data=fields("a@example.jp", "p3"))
        link = confirmation_link(smtp, "a@example.jp").replace(app.settings.base_url, "")
        clock.advance(dt.timedelta(hours=49))
        assert (await http.post(link)).status_code == 404
        assert (await http.post("/signup/confirm/not-a-token")).status_code == 404
    async with app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ConsentEvent)) == 0


async def test_showroom_tablet_records_the_staff_member(
    app: bootstrap.App, smtp: SmtpServer
) -> None:
    async with app.sessions.begin() as s:
        await users.add(
            s, username="tenpo", password=PASSWORD, role="approver", actor="t", now=app.clock.now()
        )
    async with serving(create_app(app)) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/staff/showroom/signup")).status_code == 303
        login = await http.post(
            "/staff/login",
            data={"username": "tenpo", "password": PASSWORD},
            headers={"origin": base},
        )
        assert login.status_code == 303
        page = await http.get("/staff/showroom/signup")
        assert "店頭でのお申し込み" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        no_csrf = await http.post(
            "/staff/showroom/signup", data=fields("b@example.jp", "p3"), headers={"origin": base}
        )
        assert no_csrf.status_code == 403
        ok = await http.post(
            "/staff/showroom/signup",
            data=fields("b@example.jp", "p3") | {"csrf_token": token.group(1)},
            headers={"origin": base},
        )
        assert ok.status_code == 200 and "確認メール" in ok.text
        link = confirmation_link(smtp, "b@example.jp").replace(app.settings.base_url, "")
        await http.post(link)
    async with app.sessions() as s:
        ev = await s.scalar(select(ConsentEvent).where(ConsentEvent.scope.like("email_opt_in:%")))
        assert ev is not None and ev.source == "signup_store" and ev.actor == "tenpo"
        assert ev.evidence["method"] == "showroom_tablet" and ev.evidence["staff_user"] == "tenpo"
