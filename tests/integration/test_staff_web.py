"""The staff console and JSON API over a real socket (uvicorn) with a real HTTP client,
on both databases: authentication, roles, CSRF and the four-eyes rule end to end."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from staffkit import (
    ADMIN,
    APPROVER,
    MARKETER,
    MARKETER2,
    PASSWORD,
    add_users,
    campaign_data,
    form_token,
    seed_customers,
    serving,
)

from outreach import bootstrap
from outreach.db.models import Campaign
from outreach.web import staff as staff_web


@pytest.fixture
async def base(app: bootstrap.App) -> AsyncIterator[str]:
    await add_users(app, MARKETER, MARKETER2, APPROVER, ADMIN)
    async with serving(staff_web.standalone(app)) as url:
        yield url


async def _token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


async def _console_login(client: httpx.AsyncClient, username: str) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    r = await client.post(
        "/staff/login",
        data={"username": username, "password": PASSWORD},
        headers={"origin": str(client.base_url)},
    )
    assert r.status_code == 303, r.text
    page = await client.get("/staff/")
    assert page.status_code == 200
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def _campaigns(app: bootstrap.App) -> int:
    async with app.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Campaign)) or 0)


async def test_unauthenticated_requests_to_every_api_route_are_refused(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        spec = (
            await client.get("/api/v1/openapi.json", headers=await _token(client, "mika"))
        ).json()
        tried = 0
        for path, methods in spec["paths"].items():
            for method in methods:
                if (path, method) == ("/session", "post"):
                    continue
                url = "/api/v1" + path.replace("{campaign_id}", "1").replace("{customer_id}", "1")
                r = await client.request(method.upper(), url, json={})
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                tried += 1
                bad = await client.request(
                    method.upper(), url, json={}, headers={"authorization": "Bearer nope"}
                )
                assert bad.status_code == 401
        assert tried >= 20


async def test_unauthenticated_console_pages_are_refused(base: str, app: bootstrap.App) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for path in (
            "/staff/",
            "/staff/campaigns",
            "/staff/campaigns/new",
            "/staff/campaigns/1",
            "/staff/campaigns/1/preview",
            "/staff/customers?q=x",
            "/staff/customers/1",
            "/staff/customers/1/disclosures/1",
            "/staff/customers/1/disclosures/1/a4.pdf",
            "/staff/campaigns/1/schedule",
            "/staff/users",
        ):
            r = await client.get(path)
            assert (r.status_code, r.headers.get("location")) == (303, "/staff/login"), path
        r = await client.post("/staff/campaigns/new", data=campaign_data())
        assert r.status_code == 303 and r.headers["location"] == "/staff/login"
        assert (await client.get("/staff/login")).status_code == 200
    assert await _campaigns(app) == 0


async def test_a_cross_site_form_post_is_refused(base: str, app: bootstrap.App) -> None:
    form = {
        "name": "クロスサイト",
        "purpose": "p3",
        "channels": "email",
        "subject_template": "件名",
        "text_template": '本文 {% include "_base/footer.txt" %}',
        "advertising": "on",
        "rate_per_second": "10",
    }
    async with httpx.AsyncClient(base_url=base) as client:
        token = await _console_login(client, "mika")
        evil = await client.post(
            "/staff/campaigns/new",
            data={**form, "csrf_token": token},
            headers={"origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        no_token = await client.post("/staff/campaigns/new", data=form)
        assert no_token.status_code == 403
        wrong = await client.post("/staff/campaigns/new", data={**form, "csrf_token": "x" * 43})
        assert wrong.status_code == 403
        api_no_header = await client.post("/api/v1/campaigns", json=campaign_data())
        assert api_no_header.status_code == 403  # the cookie alone does not authorise a write
        assert await _campaigns(app) == 0

        page = await client.get("/staff/campaigns/new")
        ok = await client.post(
            "/staff/campaigns/new",
            data={**form, "csrf_token": token, "form_token": form_token(page.text)},
            headers={"origin": base},
        )
        assert ok.status_code == 303, ok.text
        assert await _campaigns(app) == 1
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/staff/login",
            data={"username": "mika", "password": PASSWORD},
            headers={"origin": "https://evil.example"},
        )
        assert r.status_code == 403 and "outreach_staff" not in r.cookies


async def test_four_eyes_and_edit_back_to_draft_over_the_api(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        mika, kenta, aoi = [await _token(client, u) for u in ("mika", "kenta", "aoi")]
        r = await client.post("/api/v1/campaigns", json=campaign_data(), headers=mika)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        for who in (mika, kenta):  # marketers cannot approve, the creator least of all
            r = await client.post(
                f"/api/v1/campaigns/{cid}/approve", json={"version": 1}, headers=who
            )
            assert r.status_code == 403, r.text
        r = await client.post(f"/api/v1/campaigns/{cid}/approve", json={"version": 1}, headers=aoi)
        assert r.status_code == 200 and r.json()["status"] == "approved"
        r = await client.put(
            f"/api/v1/campaigns/{cid}",
            json={**campaign_data(name="変更後"), "version": 1},
            headers=mika,
        )
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["version"], r.json()["approved_by"]) == (
            "draft",
            2,
            None,
        )
        r = await client.post(f"/api/v1/campaigns/{cid}/schedule", json={}, headers=mika)
        assert r.status_code == 409  # not approved any more
        r = await client.post(f"/api/v1/campaigns/{cid}/approve", json={"version": 2}, headers=aoi)
        assert r.status_code == 200
        r = await client.post(f"/api/v1/campaigns/{cid}/schedule", json={}, headers=mika)
        assert r.status_code == 200 and r.json()["status"] == "scheduled"
        r = await client.get("/api/v1/customers?q=x", headers=mika)
        assert r.status_code == 403  # marketers do not read customer records


async def test_a_campaign_breaking_its_purpose_is_refused_by_the_api(
    base: str, app: bootstrap.App
) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        mika = await _token(client, "mika")
        sensitive = campaign_data(
            audience=[{"field": "sensitive.welcab_needs", "op": "eq", "value": "車いす"}]
        )
        r = await client.post("/api/v1/campaigns", json=sensitive, headers=mika)
        assert r.status_code == 422
        assert any("要配慮" in p["message"] for p in r.json()["problems"])
        outside = campaign_data(text_template="{{ policy.expires_on }} {{ message.optout_url }}")
        r = await client.post("/api/v1/campaigns/validate", json=outside, headers=mika)
        assert r.status_code == 200 and not r.json()["ok"]
        assert any("insurance_policy" in p["message"] for p in r.json()["problems"])
    assert await _campaigns(app) == 0


async def test_the_console_pages_render_for_each_role(base: str, app: bootstrap.App) -> None:
    ids = await seed_customers(app)
    async with httpx.AsyncClient(base_url=base) as client:
        mika = await _token(client, "mika")
        cid = (await client.post("/api/v1/campaigns", json=campaign_data(), headers=mika)).json()[
            "id"
        ]
    async with httpx.AsyncClient(base_url=base) as client:
        await _console_login(client, "mika")
        for path in (
            "/staff/",
            "/staff/campaigns",
            "/staff/campaigns/new",
            f"/staff/campaigns/{cid}",
            f"/staff/campaigns/{cid}/edit",
        ):
            r = await client.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            assert "content-security-policy" in r.headers
        form = await client.get("/staff/campaigns/new")
        # fields are offered under the purposes whose items cover them (insurance: (2), (8))
        assert 'value="policy.insurer" data-purposes="p2 p8"' in form.text
        preview = await client.get(f"/staff/campaigns/{cid}/preview")
        assert preview.status_code == 200
        assert "送信できる人数" in preview.text and "配信停止済み" in preview.text
        assert "<svg" in preview.text
        assert (await client.get(f"/staff/customers/{ids['C1']}")).status_code == 403
        assert (await client.get("/staff/users")).status_code == 403
    async with httpx.AsyncClient(base_url=base) as client:
        token = await _console_login(client, "aoi")
        r = await client.get("/staff/customers", params={"q": "髙橋"})
        assert r.status_code == 200 and "髙橋 一郎" in r.text
        r = await client.get(f"/staff/customers/{ids['C1']}")
        assert r.status_code == 200 and "配信停止" in r.text
        r = await client.post(
            f"/staff/customers/{ids['C1']}/request",
            data={
                "csrf_token": token,
                "form_token": form_token(r.text),
                "kind": "opt_out",
                "scope": "category:marketing",
                "source": "phone",
                "note": "電話で受付",
            },
        )
        assert r.status_code == 303
        r = await client.get(f"/staff/customers/{ids['C1']}")
        shown = r.text.split('id="optouts">', 1)[1].split("</dd>", 1)[0]
        assert shown == "営業・キャンペーンのご案内"
        r = await client.post(
            f"/staff/customers/{ids['C1']}/disclosures",
            data={
                "csrf_token": token,
                "form_token": form_token(r.text),
                "identity": "license",
                "delivery": "paper",
            },
        )
        assert r.status_code == 303, r.text
        r = await client.get(r.headers["location"])
        assert r.status_code == 200 and "保有個人データ開示書" in r.text
        r = await client.get(f"/api/v1/customers/{ids['C1']}/export")
        assert r.status_code == 200 and r.json()["consent_history"][0]["source"] == "phone"
    async with httpx.AsyncClient(base_url=base) as client:
        await _console_login(client, "root")
        assert (await client.get("/staff/users")).status_code == 200


async def test_a_service_notice_is_approved_over_the_api_only_with_the_certification(
    base: str,
) -> None:
    recall = {
        **campaign_data(),
        "name": "リコールのお知らせ",
        "purpose": "p2",
        "advertising": False,
        "subject_template": "{{ customer.name_kanji }}様 リコール（回収・無償修理）のお知らせ",
        "text_template": "{{ customer.name_kanji }}様\n{{ vehicle.car_name }}のリコールについて。",
    }
    async with httpx.AsyncClient(base_url=base) as client:
        mika, aoi = [await _token(client, u) for u in ("mika", "aoi")]
        r = await client.post("/api/v1/campaigns", json=recall, headers=mika)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = await client.post(f"/api/v1/campaigns/{cid}/approve", json={"version": 1}, headers=aoi)
        assert r.status_code == 409, r.text  # not certified: refused, not approved
        r = await client.post(
            f"/api/v1/campaigns/{cid}/approve",
            json={"version": 1, "certify_non_advertising": True},
            headers=aoi,
        )
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
