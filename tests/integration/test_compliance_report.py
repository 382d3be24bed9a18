"""The monthly compliance report on both databases: each figure counts what it names within
the JST month, and the console serves it as a page, JSON and PDF to the roles allowed."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from staffkit import ADMIN, APPROVER, MARKETER, PASSWORD, add_users, serving

from outreach import bootstrap
from outreach.clock import JST
from outreach.compliance import model, report
from outreach.db.models import (
    ConsentEvent,
    Customer,
    EmailBasis,
    GateDecision,
    OutboxMessage,
    ProvisionRecord,
)
from outreach.gate import purposes
from outreach.incidents import classes, register
from outreach.web import staff as staff_web

REPO = Path(__file__).resolve().parents[2]
REG = purposes.load(REPO / "config" / "purposes.toml")
FEB = dt.datetime(2026, 2, 10, 12, 0, tzinfo=JST)
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=JST)


async def seed(app: bootstrap.App) -> None:
    async with app.sessions() as s:
        ids = []
        for x in ("A", "B"):
            q = insert(Customer).returning(Customer.id)
            q = q.values(external_id=x, name_kanji="髙橋 一郎", created_at=FEB, updated_at=FEB)
            ids.append((await s.execute(q)).scalar_one())
        a, b = ids

        def ob(key: str, cid: int, at: dt.datetime, **kw: Any) -> dict[str, Any]:
            v: dict[str, Any] = dict(
                idempotency_key=key, customer_id=cid, purpose="p3", category="marketing",
                channel="email", kind="campaign", template="t", items=["name"], status="sent",
                not_before=at, created_at=at, sent_at=at, advertising=True, basis="opt_in",
            )  # fmt: skip
            v.update(kw)
            return v

        await s.execute(
            insert(OutboxMessage),
            [
                ob("1", a, FEB),
                ob("2", b, FEB),
                ob("3", b, FEB + dt.timedelta(days=2)),  # after B's opt-out below
                ob("4", a, FEB, purpose="p2", kind="shaken", advertising=False, basis=None),
                ob("5", a, FEB, channel="post", status="queued", sent_at=None, basis=None),
                ob("jan", a, FEB - dt.timedelta(days=30)),  # January: not counted
            ],
        )
        await s.execute(
            insert(ConsentEvent).values(
                customer_id=b, seq=1, action="opt_out", scope="category:marketing", evidence={},
                source="one_click", actor="customer", occurred_at=FEB + dt.timedelta(days=1),
                hash="h" * 64,
            )
        )  # fmt: skip
        await s.execute(
            insert(GateDecision),
            [
                dict(customer_id=b, purpose="p3", channel="email", allowed=False,
                     reasons="OPTED_OUT NO_EMAIL_CONSENT", policy_version=2, decided_at=FEB),
                dict(customer_id=b, purpose="p3", channel="email", allowed=False,
                     reasons="OPTED_OUT", policy_version=2, decided_at=FEB),
                dict(customer_id=a, purpose="p3", channel="email", allowed=True, reasons="",
                     policy_version=2, decided_at=FEB),
            ],
        )  # fmt: skip
        await s.execute(
            insert(EmailBasis).values(
                customer_id=a, email="a@example.jp", basis="opt_in", evidence_at=FEB,
                evidence_method="web_form", evidence_text="同意します",
            )
        )  # fmt: skip
        await s.execute(
            insert(ProvisionRecord),
            [
                dict(direction="provide", counterparty="共同利用会社", customer_id=c,
                     items=["①"], basis="joint_use", detail={}, at=FEB)
                for c in (a, b)
            ],
        )  # fmt: skip
        await s.commit()
        await register.record(
            s, classes.Rules(), title="誤送信", discovered_at=FEB, customer_ids=[a],
            items=["name"], classes=["sensitive"], actor="t", now=FEB,
        )  # fmt: skip


async def test_each_figure_counts_what_it_names(app: bootstrap.App) -> None:
    await seed(app)
    async with app.sessions() as s:
        r = await report.build(s, REG, "2026-02", NOW)
    assert r.title == "2026年2月 個人情報の取扱い状況報告"
    sends = {(x.purpose, x.channel, x.basis): x.count for x in r.sends}
    assert sends == {
        ("p3", "電子メール", "同意（オプトイン）"): 3,
        ("p2", "電子メール", "広告に当たらない通知（根拠不要）"): 1,
        ("p3", "郵便", "—（郵便・電話）"): 1,
    }
    assert r.sends_total == 5
    assert r.optouts == (
        model.Optouts(source="ワンクリック（RFC 8058）", action="配信停止", count=1),
    )
    assert r.ads_after_optout == 1  # message 3 went after B's opt-out: flagged
    assert {d.code: d.count for d in r.denials} == {"OPTED_OUT": 2, "NO_EMAIL_CONSENT": 1}
    assert r.evidence == (model.Evidence(basis="同意（オプトイン）", current=1, withdrawn=0),)
    assert r.provisions == (
        model.Provisions(direction="提供", basis="共同利用", counterparty="共同利用会社", count=2),
    )
    (inc,) = r.incidents
    assert inc.status == "対応中" and inc.overdue == ("速報",)  # 確報 due 12 March
    assert r.incidents_open == 1
    # another month sees none of February's sends
    async with app.sessions() as s:
        jan = await report.build(s, REG, "2026-01", NOW)
    assert jan.sends_total == 1 and jan.ads_after_optout == 0


@pytest.fixture
async def base(app: bootstrap.App) -> AsyncIterator[str]:
    await add_users(app, MARKETER, APPROVER, ADMIN)
    await seed(app)
    async with serving(staff_web.standalone(app)) as url:
        yield url


async def _login(client: httpx.AsyncClient, username: str) -> None:
    r = await client.post(
        "/staff/login",
        data={"username": username, "password": PASSWORD},
        headers={"origin": str(client.base_url)},
    )
    assert r.status_code == 303, r.text


async def test_console_page_json_and_pdf_for_the_roles_allowed(base: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/staff/compliance")).status_code == 303  # not logged in
        await _login(client, MARKETER.username)
        assert (await client.get("/staff/compliance?month=2026-02")).status_code == 403
    async with httpx.AsyncClient(base_url=base, timeout=90) as client:
        await _login(client, APPROVER.username)
        page = await client.get("/staff/compliance?month=2026-02")
        assert page.status_code == 200
        assert "2026年2月 個人情報の取扱い状況報告" in page.text
        assert re.search(r"配信停止の後に送られた広告メール：1 件", page.text)
        bad = await client.get("/staff/compliance?month=2026-13")
        assert bad.status_code == 400
        data = (await client.get("/staff/compliance.json?month=2026-02")).json()
        assert data["sends_total"] == 5
        css = await client.get("/staff/compliance/report.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        pdf = await client.get("/staff/compliance.pdf?month=2026-02")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
    if shutil.which("pdfinfo") and shutil.which("pdftotext"):  # `make fonts` installs them
        path = tmp_path / "report.pdf"
        path.write_bytes(pdf.content)
        info, text = await asyncio.to_thread(_pdf_info_and_text, path)
        assert "595.28 x 841.89" in info or "(A4)" in info, info
        assert "2026年2月 個人情報の取扱い状況報告" in text
        assert "配信停止の後に送られた広告メール" in text


def _pdf_info_and_text(path: Path) -> tuple[str, str]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    return info, text
