"""Sample data for template previews (`outreach templates preview`): a made-up customer whose
name has characters that ISO-2022-JP cannot carry (髙, 﨑), so a preview shows they survive."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from outreach.render import dealer as dealer_mod

JST = ZoneInfo("Asia/Tokyo")
SAMPLE_URL = "https://dealer.example.jp"


def context(
    dealer: dealer_mod.Dealer, today: dt.date, *, base_url: str = SAMPLE_URL
) -> dict[str, Any]:
    """A complete template context; dates are placed relative to `today`."""
    expiry = today + dt.timedelta(days=60)
    return {
        "customer": SimpleNamespace(
            name_kanji="髙橋 花子",
            name_kana="タカハシ ハナコ",
            email="hanako.takahashi@example.jp",
            phone="090-0000-0000",
            postal_code="176-0000",
            prefecture="東京都",
            city="練馬区",
            address="見本町1-2-3",
            birth_date=dt.date(1980, 4, 1),
            customer_since=dt.date(2018, 6, 1),
            last_visit_on=today - dt.timedelta(days=120),
        ),
        "vehicle": SimpleNamespace(
            car_name="LEXUS RX 450h",
            color="ソニッククォーツ",
            model_code="AALH16",
            registration_number="練馬 300 あ 12-34",
            first_registered_on=dt.date(2021, 3, 31),
            shaken_expiry_on=expiry,
            last_inspection_on=today - dt.timedelta(days=335),
            booked_on=None,
            owner_name="山﨑 太郎",
            owner_kind="user",
        ),
        "policy": SimpleNamespace(
            insurer="tokio_marine",
            kind="nini",
            starts_at=dt.datetime.combine(expiry, dt.time(16, 0), tzinfo=JST).replace(
                year=expiry.year - 1
            ),
            expires_at=dt.datetime.combine(expiry, dt.time(16, 0), tzinfo=JST),
            expires_on=expiry,
        ),
        "store": SimpleNamespace(
            id=1, code="NRM", name="LEXUS 練馬", phone="03-0000-0000", address="東京都練馬区見本町"
        ),
        "dealer": dealer.view(),
        "campaign": SimpleNamespace(
            id=1,
            name="冬タイヤ交換キャンペーン",
            purpose="p3",
            category="marketing",
            schedule_at=None,
        ),
        "message": SimpleNamespace(
            id=0,
            message_id="<0.sample@example.jp>",
            optout_url=f"{base_url}/u/SAMPLE-TOKEN",
            preferences_url=f"{base_url}/preferences/SAMPLE-TOKEN",
            advertising=True,
        ),
    }
