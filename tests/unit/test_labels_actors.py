"""Documents name people, not accounts: staff by display name whatever form the actor was
recorded in, per-recipient consents in words."""

from __future__ import annotations

from outreach import labels

NAMES = {"aoi": "青井 葵"}


def test_staff_actors_are_shown_by_display_name() -> None:
    assert labels.person("aoi", NAMES) == "青井 葵"
    assert labels.person("staff:aoi", NAMES) == "青井 葵"  # consent taken at the counter
    assert labels.person("staff:demo", NAMES) == "店舗スタッフ"
    assert labels.person("cli:root", NAMES) == "管理コマンド（root）"
    assert labels.person(None, NAMES) == "—"


def test_consent_per_recipient_reads_in_japanese() -> None:
    assert (
        labels.scope("insurer_share:tokio_marine")
        == "保険情報の提供・利用への同意（東京海上日動火災保険）"
    )
    assert labels.scope("insurer_share:dealer") == "保険情報の提供・利用への同意（当社のご案内）"
    assert labels.scope("insurer_share") == "保険情報の他社・当社利用への同意"
