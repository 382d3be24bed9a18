"""End to end through a real sent mail, on SQLite and PostgreSQL.

The daily run queues real reminders, the real worker renders and sends them to an in-process
SMTP server (aiosmtpd), the test parses List-Unsubscribe / List-Unsubscribe-Post from the
received message, performs the RFC 8058 one-click POST against the running app (uvicorn on
loopback), and the next sends are decided by the gate: the opted-out scope is refused with
OPTED_OUT, another scope still goes out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

import dailykit as kit
import httpx
import sendkit
import uvicorn
from sqlalchemy import select

from outreach import bootstrap, daily, pipeline
from outreach.clock import JST, FixedClock
from outreach.db.models import ConsentEvent, Customer, OutboxMessage
from outreach.gate import batch, context
from outreach.gate.decision import Request
from outreach.send import service, smtp
from outreach.web.app import create_app

D = dt.date
EXPIRY = D(2026, 6, 30)  # shaken stage 2 (advertising) falls on 4/30
JIBAISEKI = D(2026, 5, 30)  # 自賠責 stage 1 (a service notice, not advertising) on 4/30
DAY1 = D(2026, 4, 30)
DAY2 = D(2026, 6, 16)  # shaken stage 3 of a 7/16 expiry
# The 任意保険 reminders invite a review of the cover, so they are advertising (R14): the
# notice that is not advertising here is the 自賠責 one.


@asynccontextmanager
async def running(app_settings: object, clock: FixedClock) -> AsyncIterator[bootstrap.App]:
    """An App whose mail links point at its own web app, served on a free loopback port.

    The links say https (RFC 8058 one-click needs an https URI, and the mail builder adds
    List-Unsubscribe-Post only then); TLS ends at the reverse proxy in production, so the
    test reaches the same path over plain http (`plain`)."""
    from outreach import settings as settings_mod

    assert isinstance(app_settings, settings_mod.Settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"https://127.0.0.1:{sock.getsockname()[1]}"
    app = bootstrap.build(app_settings.model_copy(update={"base_url": base}), clock=clock)
    srv = uvicorn.Server(
        uvicorn.Config(create_app(app), log_level="warning", access_log=False, lifespan="on")
    )
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield app
    finally:
        srv.should_exit = True
        await task
        sock.close()
        await app.close()


async def deliver(app: bootstrap.App, server: sendkit.SmtpServer) -> None:
    transport = smtp.SmtpTransport(smtp.parse_url(server.url), 2)
    w = service.build_worker(app, transport=transport)
    try:
        for _ in range(20):
            if not (await pipeline.run_batch(w)).claimed:
                return
    finally:
        await transport.close()


def one_click_target(msg: EmailMessage) -> str:
    """The https URI of List-Unsubscribe, once List-Unsubscribe-Post says one-click (R21)."""
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    uris: list[str] = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    http = [u for u in uris if u.startswith("http")]
    assert len(http) == 1, uris
    return http[0]


def plain(url: str) -> str:
    assert url.startswith("https://127.0.0.1:")
    return "http://" + url.removeprefix("https://")


def mail_for(server: sendkit.SmtpServer, kind_subject: str) -> EmailMessage:
    found = [m.parsed() for m in server.received if kind_subject in str(m.parsed()["Subject"])]
    assert len(found) == 1, [str(m.parsed()["Subject"]) for m in server.received]
    return found[0]


async def seed(app: bootstrap.App, *, later_jibaiseki: bool = True) -> tuple[int, int]:
    async with app.sessions() as s, s.begin():
        cid = await kit.customer(s, 1)
        vid = await kit.vehicle(s, 1, cid, shaken_expiry_on=EXPIRY)
        await kit.policy(
            s, 1, kind="jibaiseki", customer_id=cid, expires_on=JIBAISEKI, vehicle_id=vid
        )
        vid2 = await kit.vehicle(s, 2, cid, shaken_expiry_on=D(2026, 7, 16))
        if later_jibaiseki:  # a 自賠責 notice due on DAY2 too
            await kit.policy(
                s, 2, kind="jibaiseki", customer_id=cid, expires_on=D(2026, 7, 16), vehicle_id=vid2
            )
    return cid, vid


async def outbox_by_kind(app: bootstrap.App, day: dt.date) -> dict[str, str]:
    async with app.sessions() as s:
        rows = (
            await s.execute(select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.due_on))
        ).all()
    return {r.kind: r.status for r in rows if r.due_on and r.due_on > day}


async def test_one_click_from_a_sent_mail_stops_that_scope_only(
    app_settings: object, clock: FixedClock
) -> None:
    clock.at = dt.datetime.combine(DAY1, dt.time(10, 0), tzinfo=JST)
    async with running(app_settings, clock) as app:
        cid, _ = await seed(app, later_jibaiseki=False)
        await daily.run(app, DAY1)
        with sendkit.SmtpServer() as server:
            await deliver(app, server)
            nini = mail_for(server, "自賠責")
            shaken = mail_for(server, "車検")
        assert "配信停止" in nini.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        target = one_click_target(nini)
        assert target.startswith(app.settings.base_url + "/u/")
        assert one_click_target(shaken) != target  # one token per message

        # The mail provider's one-click POST: no cookies, no browser, no redirect.
        async with httpx.AsyncClient(follow_redirects=False) as http:
            r = await http.post(
                plain(target),
                content="List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        assert r.status_code == 200 and "location" not in r.headers
        async with app.sessions() as s:
            c = await s.get(Customer, cid)
            assert c is not None and c.opt_outs == ["kind:jibaiseki"]  # not advertising: its kind
            ev = (await s.execute(select(ConsentEvent))).scalar_one()
            assert ev.source == "one_click"

        # Weeks later: the 自賠責 reminder is refused; the shaken reminders are not opted out.
        clock.at = dt.datetime.combine(DAY2, dt.time(10, 0), tzinfo=JST)
        await daily.run(app, DAY2)
        with sendkit.SmtpServer() as server:
            await deliver(app, server)
            subjects = [str(m.parsed()["Subject"]) for m in server.received]
        # The shaken reminders are another scope: whatever else the gate says of them
        # (the contact budget), the 自賠責 opt-out is not among it.
        _, shaken_reasons = await _decide(
            app,
            cid,
            Request(
                purpose="p2",
                channel="email",
                items=frozenset({"name", "email", "vehicle"}),
                advertising=True,
                kind="shaken",
            ),
        )
        assert "OPTED_OUT" not in shaken_reasons
        assert not any("自賠責" in s for s in subjects), subjects
        allowed, reasons = await _decide(
            app,
            cid,
            Request(
                purpose="p2",
                channel="email",
                items=frozenset({"name", "email", "vehicle", "insurance_policy"}),
                advertising=False,
                kind="jibaiseki",
            ),
        )
        assert not allowed and "OPTED_OUT" in reasons


async def _decide(app: bootstrap.App, cid: int, request: Request) -> tuple[bool, tuple[str, ...]]:
    ctx = context.load_context(app.settings.config_dir)
    async with app.sessions() as s:
        (d,) = await batch.decide_for(s, ctx, [(cid, request)], app.clock.now())
    return d.allowed, d.reasons


async def _one_click_on_advertising_mail(app: bootstrap.App, clock: FixedClock) -> int:
    cid, _ = await seed(app)
    await daily.run(app, DAY1)
    with sendkit.SmtpServer() as server:
        await deliver(app, server)
        shaken = mail_for(server, "車検")  # stage 2 invites a booking: advertising (R14)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        r = await http.post(plain(one_click_target(shaken)), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "location" not in r.headers
    return cid


async def test_one_click_on_advertising_mail_stops_marketing_not_service_notices(
    app_settings: object, clock: FixedClock
) -> None:
    clock.at = dt.datetime.combine(DAY1, dt.time(10, 0), tzinfo=JST)
    async with running(app_settings, clock) as app:
        cid = await _one_click_on_advertising_mail(app, clock)
        async with app.sessions() as s:
            c = await s.get(Customer, cid)
            assert c is not None and c.opt_outs == ["category:marketing"]
        # A campaign email (purpose 3, marketing) is refused with OPTED_OUT …
        campaign = Request(
            purpose="p3",
            channel="email",
            items=frozenset({"name", "email"}),
            advertising=True,
            kind="campaign",
            campaign_id=1,
        )
        allowed, reasons = await _decide(app, cid, campaign)
        assert not allowed and "OPTED_OUT" in reasons
        # … while a service notice that is not advertising still goes out.
        clock.at = dt.datetime.combine(DAY2, dt.time(10, 0), tzinfo=JST)
        await daily.run(app, DAY2)
        with sendkit.SmtpServer() as server:
            await deliver(app, server)
            subjects = [str(m.parsed()["Subject"]) for m in server.received]
        assert any("自賠責" in s for s in subjects), subjects


async def test_one_click_on_advertising_mail_stops_the_next_advertising_reminder(
    app_settings: object, clock: FixedClock
) -> None:
    clock.at = dt.datetime.combine(DAY1, dt.time(10, 0), tzinfo=JST)
    async with running(app_settings, clock) as app:
        cid = await _one_click_on_advertising_mail(app, clock)
        booking = Request(
            purpose="p2",
            channel="email",
            items=frozenset({"name", "email", "vehicle"}),
            advertising=True,
            kind="shaken",
        )
        allowed, reasons = await _decide(app, cid, booking)
        assert not allowed and "OPTED_OUT" in reasons
