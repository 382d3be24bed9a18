"""Shared helpers of the staff tests: real rules from config/, actors, a valid campaign."""

from __future__ import annotations

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
