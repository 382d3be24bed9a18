"""R10: the published policy is generated from the registry the gate enforces: its purpose
and joint-use text equals the seed policy's; a registry change that adds a purpose lists the
customers to notify, and the gate applies R2 until they are notified (both databases)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from outreach import bootstrap
from outreach.clock import JST
from outreach.db.models import AuditEntry, Customer
from outreach.gate import batch, rules
from outreach.gate import reasons as R
from outreach.gate.context import GateContext, load_context
from outreach.gate.decision import Request
from outreach.gate.purposes import Purpose, Version
from outreach.policy import document, notice
from outreach.render import dealer as dealer_mod
from outreach.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "tests" / "data" / "privacy-policy.ja.txt"  # the dealer's policy as published
NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=JST)  # a Tuesday


def _seed_lines() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    return [ln.strip().lstrip("- ").strip() for ln in text.splitlines() if ln.strip()]


def _page_text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


async def test_privacy_page_carries_the_registry_and_matches_the_seed(
    app: bootstrap.App,
) -> None:
    web = create_app(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://t"
    ) as client:
        r = await client.get("/privacy")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = _page_text(r.text)
    # the page names the sender of the dealer file in use (the demo's in tests)
    doc = document.load(app.settings.config_dir, dealer_mod.path(app.settings))
    seed = _seed_lines()
    seed_text = " ".join(seed)
    # every purpose, word for word as in the seed policy, and on the page
    for line in doc.purpose_lines():
        assert line in seed, line
        assert line in page, line
    for name in doc.insurer_names():
        assert name in seed and name in page
    ju = doc.registry.joint_use
    for mark, label in ju.items.items():
        assert f"{mark} {label}" in seed and f"{mark} {label}" in page
    for p in ju.purposes:
        assert f"{p.mark} {p.text}" in seed and f"{p.mark} {p.text}" in page
    for g in ju.groups:
        for m in g.members:
            assert m.replace(" ", "") in seed_text.replace(" ", "") and m in page
    # name, address, representative, request procedure and fees, security, complaints contact
    for needle in (
        doc.dealer.sender_name,
        doc.dealer.postal_address,
        "代表取締役社長 永田浩司",
        "開示請求書",
        "手数料",
        "安全管理措置",
        "03-5945-0121",
        ju.responsible_address,
    ):
        assert needle in page, needle
    # nothing the gate does not know is published as a purpose
    assert page.count("(9)") == 0


def _with_p9(ctx: GateContext) -> GateContext:
    """The registry after a change: version 3 adds purpose (9), not reasonably related."""
    reg = ctx.registry
    p9 = Purpose(
        id="p9",
        number="(9)",
        text="カーシェアリングサービスのご案内のため",
        category="marketing",
        channels=frozenset({"post", "email"}),
        items=frozenset({"name", "address", "email"}),
        since_version=3,
        reasonably_related=False,
    )
    versions = {**reg.versions, 3: Version(3, dt.date(2026, 3, 1), "published")}
    reg3 = dataclasses.replace(
        reg, version=3, purposes={**reg.purposes, "p9": p9}, versions=versions
    )
    return GateContext(reg3, ctx.policy)


async def test_a_new_purpose_lists_customers_and_waits_for_their_notice(
    app: bootstrap.App,
) -> None:
    ctx = _with_p9(load_context(app.settings.config_dir))
    reg = ctx.registry
    assert notice.changes(reg).purposes == ("(9) カーシェアリングサービスのご案内のため",)
    async with app.sessions() as s:
        await s.execute(
            insert(Customer),
            [
                {
                    "external_id": f"N{i}",
                    "name_kanji": "髙橋 一郎",
                    "postal_code": "1000001",
                    "address": "東京都千代田区1-1",
                    "notice_version": v,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, v in ((1, 2), (2, 3), (3, 1))
            ],
        )
        await s.commit()
        ids = dict((await s.execute(select(Customer.external_id, Customer.id))).all())
        listed = await notice.to_notify(s, reg)
    assert [x.customer_id for x in listed] == [ids["N1"], ids["N3"]]
    assert all(x.via == "post" for x in listed)

    ask = Request(
        purpose="p9", channel="post", items=frozenset({"name", "address"}), advertising=True
    )

    async def reasons_for(cid: int) -> tuple[str, ...]:
        async with app.sessions() as s:
            state = (await batch.load_states(s, ctx, [cid], NOW))[cid]
        return rules.decide(ctx, state, ask, NOW).reasons

    assert R.PURPOSE_NOT_NOTIFIED in await reasons_for(ids["N1"])  # not yet notified
    assert await reasons_for(ids["N2"]) == ()  # shown version 3 already
    async with app.sessions() as s:
        n = await notice.mark_notified(s, reg, [ids["N1"]], via="post", actor="t", now=NOW)
    assert n == 1
    assert await reasons_for(ids["N1"]) == ()  # notified: R2 is satisfied
    assert R.PURPOSE_NOT_NOTIFIED in await reasons_for(ids["N3"])  # still waiting
    async with app.sessions() as s:
        again = await notice.mark_notified(s, reg, [ids["N1"]], via="post", actor="t", now=NOW)
        audits = (
            await s.scalars(select(AuditEntry.after).where(AuditEntry.action == "policy.notified"))
        ).all()
        left = await notice.to_notify(s, reg)
    assert again == 0 and len(audits) == 2
    assert [x.customer_id for x in left] == [ids["N3"]]
