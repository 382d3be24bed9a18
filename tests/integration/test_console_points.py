"""The console a dealer would choose: one test per point of the walk-through that found it
wanting (disclosure document, validated corrections, preview at a send time, scheduling
confirmation, live results, Japanese labels, Japanese validation, double submission, search,
the customer pages' state, `/`). Real HTTP against the running app, both databases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import labelscan
import pytest
from sqlalchemy import func, select
from staffkit import (
    ADMIN,
    APPROVER,
    MARKETER,
    PASSWORD,
    REPO,
    add_users,
    form_token,
    rules,
    seed_customers,
    serving,
    spec,
)

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import (
    Campaign,
    ConsentEvent,
    Customer,
    DataRequest,
    GateDecision,
    OutboxMessage,
)
from outreach.gate import consent
from outreach.gate.context import load_context
from outreach.optout import keys, tokens
from outreach.staff import campaigns, customers, preview, validation, watch
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Invalid
from outreach.web.app import create_app

ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture
async def base(app: bootstrap.App) -> AsyncIterator[str]:
    await add_users(app, MARKETER, APPROVER, ADMIN)
    async with serving(create_app(app)) as url:
        yield url


async def _login(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post(
        "/staff/login",
        data={"username": username, "password": PASSWORD},
        headers={"origin": str(client.base_url)},
    )
    assert r.status_code == 303, r.text
    page = await client.get("/staff/")
    m = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert m
    return m[1]


def _text(html: str) -> str:
    """What a person reads: no tags, attributes, scripts, template sources or <code>."""
    html = re.sub(
        r"(?s)<(script|style|pre class=\"template\"|code|title)[^>]*>.*?</\1?[^>]*>", " ", html
    )
    html = re.sub(r"(?s)<pre class=\"template\">.*?</pre>", " ", html)
    html = re.sub(r"(?s)<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


async def _count(app: bootstrap.App, model: object, *where: object) -> int:
    async with app.sessions() as s:
        q = select(func.count()).select_from(model)  # type: ignore[arg-type]
        if where:
            q = q.where(*where)  # type: ignore[arg-type]
        return int(await s.scalar(q) or 0)


# -- 1. the disclosure is a document; one request, one record -------------------------------


async def test_disclosure_is_a_japanese_document_recorded_once(
    app: bootstrap.App, base: str, tmp_path: Path
) -> None:
    ids = await seed_customers(app)
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get(f"/staff/customers/{ids['C1']}")
        r = await client.post(
            f"/staff/customers/{ids['C1']}/disclosures",
            data={
                "csrf_token": csrf,
                "form_token": form_token(page.text),
                "identity": "license",
                "delivery": "paper",
                "requester": "ご本人",
            },
        )
        assert r.status_code == 303, r.text
        url = r.headers["location"]
        views = [await client.get(url) for _ in range(3)]
        pdf = await client.get(url + "/a4.pdf", timeout=120)
    assert all(v.status_code == 200 for v in views), views[0].text[-800:]
    shown = _text(views[0].text)
    for raw in ("external_id", "idempotency_key", "lease_until", "claimed_by", "OUTSIDE_SEND"):
        assert raw not in views[0].text
    assert not labelscan.findings(shown), labelscan.findings(shown)
    for words in ("保有個人データ開示書", "髙橋 一郎 様", "運転免許証", "書面（印刷）", "利用目的"):
        assert words in shown
    # the request is recorded once, whatever the number of views
    disclosures = await _count(app, DataRequest, DataRequest.kind == "disclosure")
    assert disclosures == 1
    async with app.sessions() as s:
        req = await s.scalar(select(DataRequest).where(DataRequest.kind == "disclosure"))
        assert req is not None
        assert req.detail["prepared_by"] == APPROVER.username
        assert req.detail["identity_check"] == "license"
    # an A4 PDF with the Japanese text in it
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    if shutil.which("pdfinfo") and shutil.which("pdftotext"):
        path = tmp_path / "d.pdf"
        path.write_bytes(pdf.content)
        await asyncio.to_thread(_pdf_checks, path)


def _pdf_checks(path: Path) -> None:
    """An A4 PDF whose text is the document's; its pages kept as PNG to look at."""
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    assert "595.28 x 841.89" in info or "(A4)" in info, info
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "保有個人データ開示書" in text and "運転免許証" in text
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(path), str(ARTIFACTS / "disclosure-pdf")],
        check=True,
    )


# -- 2. a correction goes through the import's validators ----------------------------------


async def test_a_correction_with_a_bad_phone_is_refused_and_nothing_changes(
    app: bootstrap.App, base: str
) -> None:
    ids = await seed_customers(app)
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get(f"/staff/customers/{ids['C1']}")
        r = await client.post(
            f"/staff/customers/{ids['C1']}/correct",
            data={
                "csrf_token": csrf,
                "form_token": form_token(page.text),
                "field": "phone",
                "value": "abc",
                "reason": "電話で申し出",
                "outcome": "corrected",
                "identity": "license",
            },
        )
    assert r.status_code == 422
    assert "電話番号の形式が不正です" in r.text and "記録しました" not in r.text
    async with app.sessions() as s:
        c = await s.get(Customer, ids["C1"])
        assert c is not None and c.phone is None
    assert await _count(app, DataRequest) == 0
    async with app.sessions() as s, s.begin():
        for field, value in (
            ("email", "not-an-address"),
            ("postal_code", "12"),
            ("name_kanji", "a\x07b"),
        ):
            with pytest.raises(Invalid):
                await customers.correct(
                    s,
                    ids["C1"],
                    field=field,
                    value=value,
                    reason="確認",
                    actor="aoi",
                    now=app.clock.now(),
                )
        out = await customers.correct(
            s,
            ids["C1"],
            field="phone",
            value="０３－１０１８－９５４４",
            reason="確認",
            actor="aoi",
            now=app.clock.now(),
            identity="license",
        )
    assert out.after == {"phone": "03-1018-9544"}  # normalised as the import does
    # the request's page and the printed notice name the corrected field in Japanese
    url = f"/staff/customers/{ids['C1']}/corrections/{out.request_id}"
    async with httpx.AsyncClient(base_url=base) as client:
        await _login(client, APPROVER.username)
        shown, notice = await client.get(url), await client.get(f"{url}/notice")
    assert shown.status_code == notice.status_code == 200
    assert "電話番号" in shown.text and "電話番号" in notice.text


# -- 3. the preview decides for the send time, not for the wall clock -----------------------


async def test_preview_at_five_in_the_morning_counts_for_the_next_open_window(
    app: bootstrap.App,
) -> None:
    await seed_customers(app)
    ctx = load_context(REPO / "config")
    kit = preview.kit(REPO / "templates", REPO / "config", "https://dealer.example.jp")
    early = dt.datetime(2026, 1, 6, 5, 0, tzinfo=JST)  # a Tuesday, before the window opens
    later = dt.datetime(2026, 1, 6, 11, 0, tzinfo=JST)
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=early)
        at_five = await preview.preview(s, ctx, c, rules(), now=early, actor="mika", sample_kit=kit)
        at_eleven = await preview.preview(
            s, ctx, c, rules(), now=later, actor="mika", sample_kit=kit
        )
    [five], [eleven] = at_five.channels, at_eleven.channels
    opens = ctx.policy.windows["email"].start
    assert at_five.at == dt.datetime.combine(early.date(), opens, tzinfo=JST)
    assert (five.audience, five.allowed, five.deferred) == (eleven.audience, eleven.allowed, 0)
    assert five.allowed > 0 and at_five.samples  # samples shown
    for ch in (five, eleven):  # the rows add up to the audience
        assert sum(r.count for r in ch.reason_rows()) == ch.audience
    # asked for 05:00 itself: everyone allowed is deferred, the rows still add up
    async with app.sessions() as s, s.begin():
        c2 = await s.get(Campaign, c.id)
        assert c2 is not None
        forced = await preview.preview(
            s, ctx, c2, rules(), now=early, actor="mika", at=early, sample_kit=kit
        )
    [f] = forced.channels
    assert f.deferred == eleven.allowed and f.allowed == 0
    assert sum(r.count for r in f.reason_rows()) == f.audience
    assert not forced.samples  # samples only of people the gate allows at that time


# -- 4. scheduling asks first ------------------------------------------------------------


async def test_scheduling_needs_a_confirmation_that_says_when_how_many_and_the_worker(
    app: bootstrap.App, base: str
) -> None:
    await seed_customers(app)
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=app.clock.now())
        await campaigns.approve(s, c.id, 1, rules(), actor=APPROVER, now=app.clock.now())
        cid = c.id
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get(f"/staff/campaigns/{cid}")
        assert f'action="/staff/campaigns/{cid}/schedule"' not in page.text
        r = await client.post(
            f"/staff/campaigns/{cid}/schedule",
            data={"csrf_token": csrf, "form_token": form_token(page.text)},
        )
        assert r.status_code == 303 and r.headers["location"].endswith(f"/{cid}/schedule")
        async with app.sessions() as s:
            assert (await s.get(Campaign, cid)).status == "approved"
        confirm = await client.get(f"/staff/campaigns/{cid}/schedule")
        shown = _text(confirm.text)
        assert "送信できる方 1 人" in shown and "50.0 通/秒" in shown
        assert "動いていないようです" in shown  # no worker has sent anything
        r = await client.post(
            f"/staff/campaigns/{cid}/schedule",
            data={
                "csrf_token": csrf,
                "form_token": form_token(confirm.text),
                "confirm": "yes",
                "at": "2026-01-05T15:00",
            },
        )
        assert r.status_code == 303
    async with app.sessions() as s:
        c2 = await s.get(Campaign, cid)
        assert c2 is not None and c2.status == "scheduled"
        assert c2.schedule_at == dt.datetime(2026, 1, 5, 15, 0, tzinfo=JST)


# -- 5. results from the send log; a chart with title and axes -----------------------------


async def test_results_after_sending_do_not_count_the_deferred_again(app: bootstrap.App) -> None:
    from outreach.web.staff import charts

    ids = await seed_customers(app)
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=now)
        # decided at 05:00 (deferred), decided again for 09:00 (allowed), then sent
        for at, allowed, reasons in (
            (now.replace(hour=5), False, "OUTSIDE_SEND_WINDOW"),
            (now, True, ""),
        ):
            s.add(
                GateDecision(
                    customer_id=ids["C1"],
                    campaign_id=c.id,
                    purpose="p3",
                    channel="email",
                    allowed=allowed,
                    reasons=reasons,
                    deferred_until=now if not allowed else None,
                    policy_version=2,
                    decided_at=at,
                )
            )
        s.add(
            OutboxMessage(
                idempotency_key="r1",
                customer_id=ids["C1"],
                campaign_id=c.id,
                purpose="p3",
                category="marketing",
                channel="email",
                kind="campaign",
                template=f"campaign:{c.id}:v1",
                status="sent",
                not_before=now,
                created_at=now,
                sent_at=now,
            )
        )
        cid = c.id
    async with app.sessions() as s:
        r = await watch.campaign_results(s, cid, now=now)
    assert r.outbox.sent == 1 and r.denied == () and r.deferred == 0
    svg = charts.bars([("09:00", 1)], title="送信数の推移（1分ごと）", x_label="時刻", unit="通")
    assert (
        ">送信数の推移（1分ごと）</text>" in svg and ">時刻</text>" in svg and ">通</text>" in svg
    )
    assert "最大" not in svg


# -- 6. Japanese labels, JST times, display names ---------------------------------------------


async def test_console_pages_show_labels_not_codes(app: bootstrap.App, base: str) -> None:
    ids = await seed_customers(app)
    await add_users(app)
    async with app.sessions() as s, s.begin():
        c = await campaigns.create(s, spec(), rules(), actor=MARKETER, now=app.clock.now())
        await campaigns.approve(s, c.id, 1, rules(), actor=APPROVER, now=app.clock.now())
        cust = await s.get(Customer, ids["C1"])
        assert cust is not None
        from outreach.db.models import InsurancePolicy, Run

        s.add(
            InsurancePolicy(
                external_id="P1",
                customer_id=cust.id,
                insurer="tokio_marine",
                kind="jibaiseki",
                starts_at=app.clock.now(),
                expires_at=app.clock.now(),
                expires_on=app.clock.now().date(),
                updated_at=app.clock.now(),
            )
        )
        s.add(
            Run(
                kind="daily",
                status="done",
                started_at=app.clock.now(),
                summary={"candidates": 3, "queued": 2, "window": {"after": "x"}},
            )
        )
        cid = c.id
    async with httpx.AsyncClient(base_url=base) as client:
        await _login(client, APPROVER.username)
        for path in (
            "/staff/",
            f"/staff/campaigns/{cid}",
            f"/staff/customers/{ids['C1']}",
            "/staff/campaigns",
            f"/staff/campaigns/{cid}/preview",
        ):
            r = await client.get(path)
            assert r.status_code == 200, path
            shown = _text(r.text)
            assert not labelscan.findings(shown), (path, labelscan.findings(shown))
        page = _text((await client.get(f"/staff/customers/{ids['C1']}")).text)
        assert "東京海上日動火災保険" in page and "自賠責保険" in page
        dash = _text((await client.get("/staff/")).text)
        assert "{" not in dash and "対象候補 3件" in dash


# -- 7. validation messages in Japanese, no internals -----------------------------------------


def test_validation_messages_are_japanese_and_name_no_server_path() -> None:
    with pytest.raises(Invalid) as e:
        spec_mod.parse({**_data(), "name": ""})
    assert e.value.problems[0].message == "入力してください"
    problems = validation.check(
        spec_mod.parse({**_data(), "text_template": "{{ customer.nickname }}\n" + _footer()}),
        rules(),
    )
    assert problems and all("/" not in p.message and ".toml" not in p.message for p in problems)
    assert any("nickname" in p.message for p in problems)
    problems = validation.check(
        spec_mod.parse(
            {**_data(), "text_template": "一行目\n{{ customer.name_kanji \n" + _footer()}
        ),
        rules(),
    )
    assert any("3 行目（またはその直前）" in p.message for p in problems), problems
    for p in problems:
        assert p.message.isascii() is False


def _data() -> dict[str, object]:
    from staffkit import campaign_data

    return campaign_data()


def _footer() -> str:
    return '{% include "_base/footer.txt" %}'


async def test_the_api_maps_pydantic_errors_to_japanese(app: bootstrap.App, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/api/v1/session", json={"username": MARKETER.username, "password": PASSWORD}
        )
        token = {"authorization": f"Bearer {r.json()['token']}"}
        r = await client.post(
            "/api/v1/campaigns/validate", json={**_data(), "name": ""}, headers=token
        )
    assert r.status_code == 422
    [p] = r.json()["problems"]
    assert p["message"] == "入力してください" and p["label"] == "キャンペーン名"
    assert "String should" not in r.text


# -- 8. a form cannot be submitted twice ---------------------------------------------------


async def test_back_and_submit_again_creates_nothing_new(app: bootstrap.App, base: str) -> None:
    ids = await seed_customers(app)
    form = {
        "name": "二重送信",
        "purpose": "p3",
        "channels": "email",
        "subject_template": "件名",
        "text_template": '本文 {% include "_base/footer.txt" %}',
        "advertising": "on",
        "rate_per_second": "10",
    }
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, MARKETER.username)
        page = await client.get("/staff/campaigns/new")
        data = {**form, "csrf_token": csrf, "form_token": form_token(page.text)}
        first = await client.post("/staff/campaigns/new", data=data)
        second = await client.post("/staff/campaigns/new", data=data)
        assert first.status_code == second.status_code == 303
        assert second.headers["location"] == first.headers["location"] + "?again=1"
        again = await client.get(second.headers["location"])
        assert "この操作はすでに行われています" in again.text
        forged = await client.post("/staff/campaigns/new", data={**data, "form_token": "x.y"})
        assert forged.status_code == 403
    assert await _count(app, Campaign) == 1
    async with httpx.AsyncClient(base_url=base) as client:
        csrf = await _login(client, APPROVER.username)
        page = await client.get(f"/staff/customers/{ids['C1']}")
        data = {
            "csrf_token": csrf,
            "form_token": form_token(page.text),
            "kind": "cessation",
            "scope": "all",
            "source": "phone",
            "note": "",
        }
        for _ in range(2):
            assert (
                await client.post(f"/staff/customers/{ids['C1']}/request", data=data)
            ).status_code == 303
    assert await _count(app, DataRequest, DataRequest.kind == "cessation") == 1
    assert await _count(app, ConsentEvent, ConsentEvent.action == "cessation") == 1


# -- 9. search finds people however they are typed ------------------------------------------


async def test_search_folds_width_kana_spaces_and_phone_hyphens(
    app: bootstrap.App, base: str
) -> None:
    now = app.clock.now()
    async with app.sessions() as s, s.begin():
        s.add(
            Customer(
                external_id="S1",
                name_kanji="中村 桃子",
                name_kana="ナカムラ モモコ",
                phone="03-1018-9544",
                created_at=now,
                updated_at=now,
            )
        )
        s.add(Customer(external_id="S2", name_kanji="100%_さん", created_at=now, updated_at=now))
        for i in range(25):
            s.add(
                Customer(
                    external_id=f"N{i:02}", name_kanji=f"中村 {i}", created_at=now, updated_at=now
                )
            )
    async with app.sessions() as s, s.begin():
        for q in (
            "中村　桃子",
            "中村桃子",
            "0310189544",
            "03-1018-9544",
            "なかむら もも",
            "ﾅｶﾑﾗ ﾓﾓｺ",
            "ｓ１",
        ):
            found = await customers.search(s, q, actor="aoi", now=now)
            assert "S1" in [h.external_id for h in found.hits], q
        assert (await customers.search(s, "%", actor="aoi", now=now)).total == 1  # only 100%_
        assert (await customers.search(s, "_", actor="aoi", now=now)).total == 1
        page1 = await customers.search(s, "中村", actor="aoi", now=now)
        page2 = await customers.search(s, "中村", actor="aoi", now=now, page=2)
    assert page1.total == 26 and len(page1.hits) == 20 and len(page2.hits) == 6 and page1.pages == 2
    assert not {h.id for h in page1.hits} & {h.id for h in page2.hits}
    async with httpx.AsyncClient(base_url=base) as client:
        await _login(client, APPROVER.username)
        r = await client.get("/staff/customers", params={"q": "中村"})
        assert "26 件見つかりました" in _text(r.text) and 'id="next-page"' in r.text


# -- 10. the customer pages show what is already stopped --------------------------------------


async def test_an_opt_out_link_opened_again_shows_what_is_stopped(
    app: bootstrap.App, base: str
) -> None:
    ids = await seed_customers(app)
    ring = keys.ring(app.settings)
    token = tokens.issue(
        ring.key,
        ring.kid,
        customer_id=ids["C1"],
        outbox_id=None,
        scope="kind:shaken",
        purpose="p2",
        category="service_notice",
    )
    async with httpx.AsyncClient(base_url=base) as client:
        before = await client.get(f"/u/{token}")
        assert "停止済み" not in before.text
        async with app.sessions() as s, s.begin():
            await consent.record_event(
                s,
                ids["C1"],
                action="opt_out",
                scope="kind:shaken",
                source="link",
                actor="customer",
                now=app.clock.now(),
            )
        after = await client.get(f"/u/{token}")
    assert "停止済み" in after.text and 'id="current-state"' in after.text
    css = (REPO / "templates" / "web" / "optout" / "optout.css").read_text(encoding="utf-8")
    assert "keep-all" in css  # buttons never break mid-word (受信す/る)


# -- 12. `/` and the README ---------------------------------------------------------------


async def test_root_is_a_japanese_page_or_the_console(app: bootstrap.App, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.get("/")
        assert r.status_code == 200 and "配信設定" in r.text and "Not Found" not in r.text
        await _login(client, APPROVER.username)
        r = await client.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/staff/"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Staff console", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "/staff/",
        "outreach user add",
        "OUTREACH_NEW_PASSWORD",
        "OUTREACH_BASE_URL",
        "outreach serve",
    ):
        assert needed in section, needed
