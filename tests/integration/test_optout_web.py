"""Opt-out pages and RFC 8058 one-click against the running app (uvicorn on loopback, a real
HTTP client), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, insert, select

from outreach import bootstrap
from outreach.clock import FixedClock
from outreach.db.models import (
    Campaign,
    ConsentEvent,
    Customer,
    DataRequest,
    EmailBasis,
    OutboxMessage,
)
from outreach.gate import consent
from outreach.optout import keys, tokens
from outreach.web.app import create_app

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@dataclass
class Seed:
    a: int  # customer with a campaign mail and a shaken reminder
    b: int  # another customer
    campaign_outbox: int
    reminder_outbox: int
    campaign_id: int


async def seed(app: bootstrap.App) -> Seed:
    async with app.sessions.begin() as s:
        await s.execute(
            insert(Customer),
            [
                {
                    "external_id": f"C{i}",
                    "name_kanji": name,
                    "email": email,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i, (name, email) in enumerate(
                    [("髙橋 一郎", "takahashi@example.jp"), ("山﨑 花子", "yamazaki@example.jp")]
                )
            ],
        )
        a, b = (await s.execute(select(Customer.id).order_by(Customer.id))).scalars().all()
        camp = Campaign(
            name="春の新型車フェア",
            purpose="p3",
            category="marketing",
            created_by="m",
            created_at=T0,
            updated_at=T0,
        )
        s.add(camp)
        await s.flush()
        common = {"customer_id": a, "channel": "email", "not_before": T0, "created_at": T0}
        rows = [
            {
                **common,
                "idempotency_key": "k1",
                "purpose": "p3",
                "category": "marketing",
                "kind": "campaign",
                "template": "campaign",
                "advertising": True,
                "campaign_id": camp.id,
                "to_address": "takahashi@example.jp",
            },
            {
                **common,
                "idempotency_key": "k2",
                "purpose": "p2",
                "category": "service_notice",
                "kind": "shaken",
                "template": "reminder_shaken_1",
                "advertising": False,
                "to_address": "takahashi@example.jp",
            },
        ]
        await s.execute(insert(OutboxMessage), rows)
        o1, o2 = (await s.execute(select(OutboxMessage.id).order_by(OutboxMessage.id))).scalars()
        return Seed(a, b, o1, o2, camp.id)


def campaign_token(app: bootstrap.App, sd: Seed, customer: int | None = None) -> str:
    r = keys.ring(app.settings)
    return tokens.issue(
        r.key,
        r.kid,
        customer_id=customer or sd.a,
        outbox_id=sd.campaign_outbox,
        scope=f"campaign:{sd.campaign_id}",
        purpose="p3",
        category="marketing",
        advertising=True,
    )


def reminder_token(app: bootstrap.App, sd: Seed) -> str:
    r = keys.ring(app.settings)
    return tokens.issue(
        r.key,
        r.kid,
        customer_id=sd.a,
        outbox_id=sd.reminder_outbox,
        scope="kind:shaken",
        purpose="p2",
        category="service_notice",
        advertising=False,
    )


def relaxed_config(app: bootstrap.App, tmp_path: Path, **web: object) -> Path:
    """A copy of config/ whose optout.toml has other [web] limits."""
    config = tmp_path / "config"
    shutil.copytree(app.settings.config_dir, config)
    text = (config / "optout.toml").read_text()
    for key, value in web.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    (config / "optout.toml").write_text(text)
    return config


@pytest.fixture
async def server(app: bootstrap.App, tmp_path: Path) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port, in this test's event loop.

    Its own App on the same database; the rate limit raised (every request comes from
    127.0.0.1 here; the limit itself is tested below)."""
    config = relaxed_config(app, tmp_path, rate_per_second=1000, burst=1000)
    served = bootstrap.build(
        app.settings.model_copy(update={"config_dir": config}), clock=app.clock
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config_ = uvicorn.Config(
        create_app(served), log_level="warning", access_log=False, lifespan="on"
    )
    srv = uvicorn.Server(config_)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task
    sock.close()
    await served.close()


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, follow_redirects=False, timeout=10) as c:
        yield c


async def state(app: bootstrap.App, cid: int) -> tuple[list[str], bool, int]:
    async with app.sessions() as s:
        c = await s.get(Customer, cid)
        assert c is not None
        n = await s.scalar(
            select(func.count()).select_from(ConsentEvent).where(ConsentEvent.customer_id == cid)
        )
        return sorted(c.opt_outs), c.use_suspended, int(n or 0)


async def test_get_shows_the_page_and_changes_nothing(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    r = await client.get(f"/u/{campaign_token(app, sd)}")
    assert r.status_code == 200
    assert "t***@e***.jp" in r.text and "takahashi" not in r.text
    assert "春の新型車フェア" in r.text
    assert "すべての広告メールを停止" in r.text and "利用停止" in r.text
    assert "set-cookie" not in r.headers
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    r = await client.get(f"/preferences/{campaign_token(app, sd)}")
    assert r.status_code == 200 and "配信設定" in r.text
    assert await state(app, sd.a) == ([], False, 0)
    css = await client.get("/static/optout.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_form_post_records_exactly_the_chosen_scope(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    t = reminder_token(app, sd)
    r = await client.post(f"/u/{t}", data={"choice": "this"}, headers={"user-agent": "UA/1"})
    assert r.status_code == 200 and "お手続きが完了しました" in r.text
    assert await state(app, sd.a) == (["kind:shaken"], False, 1)
    again = await client.post(f"/u/{t}", data={"choice": "this"})
    assert again.status_code == 200 and "すでに承っております" in again.text
    assert await state(app, sd.a) == (["kind:shaken"], False, 1)
    r = await client.post(f"/u/{t}", data={"choice": "marketing"})
    assert await state(app, sd.a) == (["category:marketing", "kind:shaken"], False, 2)
    assert await state(app, sd.b) == ([], False, 0)
    async with app.sessions() as s:
        ev = (
            await s.execute(select(ConsentEvent).order_by(ConsentEvent.seq).limit(1))
        ).scalar_one()
    assert (ev.action, ev.scope, ev.source, ev.actor) == (
        "opt_out",
        "kind:shaken",
        "link",
        "customer",
    )
    assert ev.evidence["outbox_id"] == sd.reminder_outbox
    assert ev.evidence["choice"] == "this"
    assert len(ev.evidence["ua_sha256"]) == 16 and "UA/1" not in str(ev.evidence)
    assert ev.occurred_at == FixedClock().now()
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def test_cessation_from_the_page(app: bootstrap.App, client: httpx.AsyncClient) -> None:
    sd = await seed(app)
    r = await client.post(f"/u/{campaign_token(app, sd)}", data={"choice": "all"})
    assert r.status_code == 200 and "利用停止のご請求として受け付けました" in r.text
    assert await state(app, sd.a) == ([], True, 1)
    async with app.sessions() as s:
        reqs = (await s.execute(select(DataRequest))).scalars().all()
    assert [(q.customer_id, q.kind) for q in reqs] == [(sd.a, "cessation")]


async def test_one_click_opts_out_at_once_without_redirect(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    t = campaign_token(app, sd)
    body = "List-Unsubscribe=One-Click"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = await client.post(f"/u/{t}", content=body, headers=headers)
    assert r.status_code == 200
    assert "location" not in r.headers and "set-cookie" not in r.headers
    # Advertising mail: the conservative default stops all advertising (config/optout.toml).
    assert await state(app, sd.a) == (["category:marketing"], False, 1)
    r = await client.post(f"/u/{t}", content=body, headers=headers)
    assert r.status_code == 200
    assert await state(app, sd.a) == (["category:marketing"], False, 1)
    # A service reminder that is not advertising: its own kind only. Multipart works too.
    r = await client.post(
        f"/u/{reminder_token(app, sd)}", files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert r.status_code == 200 and "location" not in r.headers
    assert await state(app, sd.a) == (["category:marketing", "kind:shaken"], False, 2)
    async with app.sessions() as s:
        sources = (await s.execute(select(ConsentEvent.source))).scalars().all()
    assert sources == ["one_click", "one_click"]


def _flip(t: str, i: int) -> str:
    return t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1 :]


async def test_tampered_tokens_are_refused_and_record_nothing(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    good = campaign_token(app, sd)
    forged_other_key = tokens.issue(
        b"attacker key", keys.fingerprint(app.settings.secret()), customer_id=sd.b,
        outbox_id=1, scope="campaign:1",
    )  # fmt: skip
    bad = [_flip(good, 5), _flip(good, len(good) // 2), _flip(good, len(good) - 1)]
    bad += [good[:-3], good + "A", forged_other_key, "nonsense", "%E3%81%82"]
    for t in bad:
        for r in (
            await client.get(f"/u/{t}"),
            await client.post(f"/u/{t}", content="List-Unsubscribe=One-Click"),
            await client.post(f"/u/{t}", data={"choice": "all"}),
            await client.get(f"/preferences/{t}"),
            await client.post(f"/preferences/{t}", data={"do": "stop", "scope": "channel:email"}),
        ):
            assert r.status_code == 400, (t, r.status_code)
            assert "このリンクはご利用いただけません" in r.text
            assert "Traceback" not in r.text and "location" not in r.headers
    assert await state(app, sd.a) == ([], False, 0)
    assert await state(app, sd.b) == ([], False, 0)


async def test_valid_token_for_unknown_customer_is_404_and_records_nothing(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    t = campaign_token(app, sd, customer=sd.b + 1000)
    assert (await client.get(f"/u/{t}")).status_code == 404
    r = await client.post(f"/u/{t}", content="List-Unsubscribe=One-Click")
    assert r.status_code == 404 and "このリンクはご利用いただけません" in r.text
    async with app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ConsentEvent)) == 0


async def test_bad_requests(app: bootstrap.App, client: httpx.AsyncClient) -> None:
    sd = await seed(app)
    t = campaign_token(app, sd)
    assert (await client.post(f"/u/{t}", data={"choice": "everything"})).status_code == 400
    assert (await client.post(f"/u/{t}", data={})).status_code == 400
    foreign = await client.post(
        f"/u/{t}", data={"choice": "all"}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert await state(app, sd.a) == ([], False, 0)
    # Browsers send Origin: null from a no-referrer page; the token is the capability.
    null = await client.post(f"/u/{t}", data={"choice": "this"}, headers={"origin": "null"})
    assert null.status_code == 200
    assert await state(app, sd.a) == ([f"campaign:{sd.campaign_id}"], False, 1)
    big = await client.post(f"/u/{t}", content="x=" + "a" * 10_000)
    assert big.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b"List-Unsubscribe=One-Click&" * 40

    streamed = await client.post(f"/u/{t}", content=chunks())
    assert streamed.status_code == 413
    assert (await client.put(f"/u/{t}")).status_code == 405
    assert (await client.get("/nothing-here")).status_code == 404
    assert await state(app, sd.a) == ([f"campaign:{sd.campaign_id}"], False, 1)
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_preferences_stop_and_resubscribe(
    app: bootstrap.App, client: httpx.AsyncClient
) -> None:
    sd = await seed(app)
    t = campaign_token(app, sd)
    await client.post(f"/u/{t}", content="List-Unsubscribe=One-Click")
    page = await client.get(f"/preferences/{t}")
    assert "停止中" in page.text and "受信を再開する" in page.text
    r = await client.post(f"/preferences/{t}", data={"do": "stop", "scope": "channel:post"})
    assert r.status_code == 200 and "停止しました" in r.text
    assert await state(app, sd.a) == (["category:marketing", "channel:post"], False, 2)
    r = await client.post(f"/preferences/{t}", data={"do": "resume", "scope": "category:marketing"})
    assert r.status_code == 200 and "再開しました" in r.text
    assert await state(app, sd.a) == (["channel:post"], False, 3)
    async with app.sessions() as s:
        last = (
            await s.execute(select(ConsentEvent).order_by(ConsentEvent.seq.desc()).limit(1))
        ).scalar_one()
        basis = (await s.execute(select(EmailBasis))).scalar_one()
    assert (last.action, last.source, last.legal_basis) == (
        "resubscribe",
        "preference_page",
        "opt_in",
    )
    assert (basis.customer_id, basis.email, basis.basis) == (sd.a, "takahashi@example.jp", "opt_in")
    assert "配信設定ページ" in basis.evidence_text
    # A scope that is neither listed nor currently stopped cannot be touched.
    r = await client.post(f"/preferences/{t}", data={"do": "resume", "scope": "all"})
    assert r.status_code == 400
    async with app.sessions() as s:
        assert await consent.verify(s) == []


async def test_rate_limit_per_client_address(app: bootstrap.App, tmp_path: Path) -> None:
    config = relaxed_config(app, tmp_path, rate_per_second=0.01, burst=3)
    a = bootstrap.build(app.settings.model_copy(update={"config_dir": config}), clock=app.clock)
    try:
        web = create_app(a)
        transport = httpx.ASGITransport(app=web, client=("198.51.100.7", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            codes = [(await c.get("/u/x")).status_code for _ in range(5)]
            assert codes == [400, 400, 400, 429, 429]
            limited = await c.get("/u/x")
            assert "retry-after" in limited.headers and "しばらく" in limited.text
            assert (await c.get("/healthz")).status_code == 200  # only the opt-out pages
            assert (await c.get("/static/optout.css")).status_code == 200
            # X-Forwarded-For is ignored by default: it cannot buy a fresh bucket.
            spoofed = await c.get("/u/x", headers={"x-forwarded-for": "203.0.113.9"})
            assert spoofed.status_code == 429
        other = httpx.ASGITransport(app=web, client=("198.51.100.8", 1234))
        async with httpx.AsyncClient(transport=other, base_url="http://test") as c:
            assert (await c.get("/u/x")).status_code == 400  # another address: its own bucket
    finally:
        await a.close()


async def test_forwarded_for_is_used_behind_a_trusted_proxy(
    app: bootstrap.App, tmp_path: Path
) -> None:
    config = relaxed_config(app, tmp_path, rate_per_second=0.01, burst=1, forwarded_hops=1)
    a = bootstrap.build(app.settings.model_copy(update={"config_dir": config}), clock=app.clock)
    try:
        proxy = httpx.ASGITransport(app=create_app(a), client=("10.0.0.1", 1234))
        async with httpx.AsyncClient(transport=proxy, base_url="http://test") as c:

            async def get(xff: str) -> int:
                return (await c.get("/u/x", headers={"x-forwarded-for": xff})).status_code

            assert await get("203.0.113.1") == 400
            assert await get("203.0.113.1") == 429
            # The client-written part (left) does not matter; the proxy's entry (right) does.
            assert await get("1.2.3.4, 203.0.113.1") == 429
            assert await get("203.0.113.2") == 400
    finally:
        await a.close()
