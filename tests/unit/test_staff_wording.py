"""Promotional wording (R14 mixed content): found in promotions, absent from notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.gate import purposes
from outreach.render import templates
from outreach.staff import wording

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    [
        "冬タイヤ 20％オフ",
        "冬タイヤ２０％ＯＦＦ",
        "タイヤセール開催中",
        "工賃を割引いたします",
        "ご成約の方に特典をご用意",
        "無料点検のご案内",
        "新型ＲＸ発表会",
        "試乗のご予約",
        "冬タイヤ交換キャンペーン",
        "補償内容の見直しのご相談",
    ],
)
def test_promotional_wording_is_found(text: str) -> None:
    assert wording.promotional([text]), text


@pytest.mark.parametrize(
    "text",
    [
        "リコール（回収・無償修理）のお知らせ",
        "年末年始の店舗休業のお知らせ（12月29日〜1月3日）",
        "車検満了日が近づいています。満了日の2か月前から受検できます。",
    ],
)
def test_a_plain_notice_has_none(text: str) -> None:
    assert wording.promotional([text]) == []


def test_every_shipped_template_with_promotional_wording_is_classified_advertising() -> None:
    registry = purposes.load(REPO / "config" / "purposes.toml")
    catalog = templates.load(REPO / "templates" / "mail", registry).require_all()
    notices = []
    for t in catalog.templates.values():
        hits = wording.promotional(t.sources.values())
        if hits:
            assert t.meta.advertising, (t.name, hits)
        if not t.meta.advertising:
            notices.append(t.name)
    assert sorted(notices) == ["reminder_jibaiseki_1", "reminder_shaken_1"]
