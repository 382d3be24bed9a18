"""Shared helpers of the staff tests: real rules from config/, actors, a valid campaign."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach import bootstrap
from outreach.staff import rules as rules_mod
from outreach.staff import spec as spec_mod
from outreach.staff import users

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"

FOOTER = (
    "\n--\n{{ dealer.sender_name }}\n{{ dealer.postal_address }}\n"
    "お問い合わせ: {{ dealer.contact_phone }}\n"
    "配信停止はこちらからすぐに手続きできます: {{ message.optout_url }}\n"
)


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


MARKETER = Actor("mika", "marketer")
MARKETER2 = Actor("kenta", "marketer")
APPROVER = Actor("aoi", "approver")
ADMIN = Actor("root", "admin")


def rules() -> rules_mod.RegistryRules:
    return rules_mod.load(REPO / "config")


def campaign_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "冬のタイヤ交換フェア",
        "purpose": "p3",
        "channels": ["email"],
        "audience": [
            {"field": "vehicle.car_name", "op": "in", "value": ["RX", "NX"]},
            {"field": "customer.prefecture", "op": "eq", "value": "東京都"},
        ],
        "subject_template": "{{ customer.name_kanji }}様 冬のタイヤ交換フェアのご案内",
        "text_template": "{{ customer.name_kanji }}様\n{{ vehicle.car_name }}の冬支度を。" + FOOTER,
        "advertising": True,
        "rate_per_second": 50,
    }
    data.update(overrides)
    return data


def spec(**overrides: Any) -> spec_mod.CampaignSpec:
    return spec_mod.parse(campaign_data(**overrides))


async def add_users(app: bootstrap.App, *actors: Actor) -> None:
    async with app.sessions() as s, s.begin():
        for a in actors:
            await users.add(
                s,
                username=a.username,
                password=PASSWORD,
                role=a.role,
                actor="test",
                now=app.clock.now(),
            )


async def seed_customers(app: bootstrap.App) -> dict[str, int]:
    """A small audience exercising the gate: external id → customer id."""
    from outreach.db.models import Customer, EmailBasis, Vehicle

    now = app.clock.now()
    people = [
        # external id, name, prefecture, email, opt_outs, car, vehicle status, basis
        ("C1", "髙橋 一郎", "東京都", "ichiro@example.jp", [], "RX", "owned", True),
        ("C2", "山﨑 花子", "東京都", "hanako@example.jp", ["all"], "RX", "owned", True),
        ("C3", "佐藤 次郎", "東京都", None, [], "NX", "owned", False),
        ("C4", "鈴木 三郎", "東京都", "saburo@example.jp", [], "LS", "owned", True),
        ("C5", "田中 四郎", "東京都", "shiro@example.jp", [], "RX", "sold", True),
        ("C6", "伊藤 五郎", "大阪府", "goro@example.jp", [], "RX", "owned", True),
        ("C7", "渡辺 六子", "東京都", "mutsuko@example.jp", [], "NX", "owned", False),
    ]
    ids: dict[str, int] = {}
    async with app.sessions() as s, s.begin():
        for ext, name, pref, email, opt_outs, car, vstatus, basis in people:
            c = Customer(
                external_id=ext,
                name_kanji=name,
                prefecture=pref,
                city="港区",
                postal_code="1070062",
                address="南青山1-1-1",
                email=email,
                opt_outs=opt_outs,
                created_at=now,
                updated_at=now,
            )
            s.add(c)
            await s.flush()
            ids[ext] = c.id
            s.add(
                Vehicle(
                    external_id=f"V{ext}",
                    user_id=c.id,
                    car_name=car,
                    model_code="AALH16",
                    status=vstatus,
                    updated_at=now,
                )
            )
            if basis and email:
                s.add(
                    EmailBasis(
                        customer_id=c.id,
                        email=email,
                        basis="opt_in",
                        evidence_at=now,
                        evidence_method="web_form",
                        evidence_text="LEXUSからのご案内メールを受け取る",
                    )
                )
    return ids


@contextlib.asynccontextmanager
async def serving(asgi: Any) -> AsyncIterator[str]:
    """Run an ASGI app on a real socket (uvicorn, in this event loop); yields its base URL."""
    import asyncio

    import uvicorn

    config = uvicorn.Config(
        asgi, host="127.0.0.1", port=0, lifespan="off", ws="none", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def form_token(html: str) -> str:
    """The one-time form token a console page carries in its forms."""
    import re

    m = re.search(r'name="form_token" value="([^"]+)"', html)
    assert m, "no form token on the page"
    return m[1]
