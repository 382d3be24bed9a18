"""The JSON API over a real socket, on both databases: an anonymous request is refused before
its body is read, bodies are capped, and the OpenAPI document needs a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httpx
import pytest
from staffkit import MARKETER, PASSWORD, add_users, serving

from outreach import bootstrap
from outreach.web import staff as staff_web


@pytest.fixture
async def base(app: bootstrap.App) -> AsyncIterator[str]:
    await add_users(app, MARKETER)
    async with serving(staff_web.standalone(app)) as url:
        yield url


async def _raw_post(base: str, path: str, length: int, headers: str = "") -> bytes:
    """Send the headers of a POST announcing `length` bytes but only a few of them, and read
    what the server answers: a server that waits for the body never answers."""
    u = urlsplit(base)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{headers}\r\n"
        ).encode()
        + b"{"
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), timeout=5)
    finally:
        writer.close()


async def test_an_anonymous_huge_post_is_refused_with_401_before_the_body(base: str) -> None:
    answer = await _raw_post(base, "/api/v1/campaigns", 200 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert "ログインしてください".encode() in answer


async def test_a_bad_token_is_refused_before_the_body_too(base: str) -> None:
    answer = await _raw_post(
        base, "/api/v1/campaigns", 10_000_000, headers="Authorization: Bearer nope\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


async def test_an_authenticated_body_over_the_cap_is_413(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/api/v1/session", json={"username": "mika", "password": PASSWORD})
        token = r.json()["token"]
    answer = await _raw_post(
        base,
        "/api/v1/campaigns",
        staff_web.API_MAX_BODY + 1,
        headers=f"Authorization: Bearer {token}\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    async with httpx.AsyncClient(base_url=base) as client:  # streamed without a length, too
        big = b'{"name": "' + b"x" * (staff_web.API_MAX_BODY + 10) + b'"}'

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 65536):
                yield big[i : i + 65536]

        r = await client.post(
            "/api/v1/campaigns",
            content=chunks(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert r.status_code == 413


async def test_the_openapi_document_needs_a_session(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        anonymous = await client.get("/api/v1/openapi.json")
        assert anonymous.status_code == 401
        assert "paths" not in anonymous.text
        r = await client.post("/api/v1/session", json={"username": "mika", "password": PASSWORD})
        spec = await client.get(
            "/api/v1/openapi.json", headers={"authorization": f"Bearer {r.json()['token']}"}
        )
        assert spec.status_code == 200 and "/campaigns" in spec.json()["paths"]
        # the login itself stays open, and still validates its body
        bad = await client.post("/api/v1/session", json={"username": 1})
        assert bad.status_code == 422


async def test_eighty_parallel_bogus_logins_get_no_server_error_and_opt_out_pages_answer(
    app: bootstrap.App,
) -> None:
    """The issue's attack over a real socket: 80 parallel logins with random usernames (the
    console form and the API), while customers open their opt-out pages. Before: HTTP 500s
    (pool timeout, "database is locked") and opt-out pages taking many seconds."""
    from test_optout_web import campaign_token, seed

    from outreach.web.app import create_app

    sd = await seed(app)
    page = f"/u/{campaign_token(app, sd)}"
    async with serving(create_app(app)) as url, httpx.AsyncClient(base_url=url, timeout=120) as c:

        async def bogus(i: int) -> int:
            if i % 2:
                r = await c.post("/api/v1/session", json={"username": f"x{i}", "password": "nope"})
            else:
                r = await c.post(
                    "/staff/login",
                    data={"username": f"x{i}", "password": "nope"},
                    headers={"origin": url},
                )
            return r.status_code

        async def opt_out_page() -> int:
            await asyncio.sleep(0.2)  # while the logins are in flight
            return (await c.get(page)).status_code

        results = await asyncio.gather(
            *(bogus(i) for i in range(80)), *(opt_out_page() for _ in range(10))
        )
    logins, pages = results[:80], results[80:]
    assert set(logins) <= {401, 429, 503}, sorted(logins)
    assert logins.count(401) <= 20  # the per-address limit: at most 20 checks from one place
    assert pages == [200] * 10


async def test_the_web_app_never_pauses_the_collector(app: bootstrap.App) -> None:
    """The app `serve` runs marks every request as served (gate.batch.serving), so a batch
    inside a request (the console's preview) leaves the collector on."""
    from outreach.web.app import Serving, create_app

    web = create_app(app)
    assert any(cast(object, m.cls) is Serving for m in web.user_middleware)
