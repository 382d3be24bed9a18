"""Pure parts of the dealer's day: per-stage channel order, the print columns, what a 車検
letter says about booking (R31), the PDF's pages, and why a queued mail waits."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from outreach import sendstate
from outreach.candidates import rules
from outreach.clock import JST
from outreach.errors import ConfigError
from outreach.letters import columns, pdf

CONFIG = Path(__file__).resolve().parents[2] / "config" / "reminders.toml"


def _letter(**kw: object) -> columns.Letter:
    values: dict[str, object] = {
        "reference": 7,
        "kind": "shaken",
        "stage": "2",
        "postal_code": "1600023",
        "prefecture": "東京都",
        "city": "新宿区",
        "address": "西新宿1-1",
        "name": "髙橋 太郎",
        "car_name": "レクサス RX",
        "registration_number": "品川 300 あ 1",
        "due_on": dt.date(2027, 4, 1),
        "insurer": None,
        "store": "レクサス新宿",
        "store_phone": "03-1111-2222",
    }
    values.update(kw)
    return columns.Letter(**values)  # type: ignore[arg-type]


def test_shaken_stage_3_is_a_call_from_the_store() -> None:
    r = rules.load(CONFIG)
    assert r.kinds["shaken"].stage("3").channels == ("phone", "email", "post")
    assert r.kinds["shaken"].stage("2").channels == ()  # the rules' order


def test_a_stage_channel_that_is_not_a_channel_is_refused(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    bad = tmp_path / "reminders.toml"
    bad.write_text(text.replace('channels = ["phone", "email", "post"]', 'channels = ["fax"]'))
    with pytest.raises(ConfigError, match=r"kinds\.shaken\.stages\[2\]\.channels"):
        rules.load(bad)


def test_print_columns_are_japanese_and_human() -> None:
    header = columns.to_csv([_letter(kind="nini", insurer="aioi_nissay_dowa")]).splitlines()
    assert header[0].split(",")[1:6] == ["郵便番号", "住所1", "住所2", "宛名", "敬称"]
    cells = header[1].split(",")
    assert cells[2:7] == ["東京都新宿区", "西新宿1-1", "髙橋 太郎", "様", "任意保険のご案内"]
    assert cells[9] == "2027年4月1日" and cells[10] == "あいおいニッセイ同和損害保険"
    assert _letter().postal == "〒160-0023"


def test_a_shaken_letter_never_pushes_a_booking_before_the_window_opens() -> None:
    early = pdf.shaken_window(_letter(), dt.date(2027, 1, 5))  # stage 1: three months ahead
    assert "2027年2月1日 から" in early[0] and "早まります" in early[1]
    inside = pdf.shaken_window(_letter(), dt.date(2027, 2, 1))
    assert "期間です" in inside[0] and "お知らせください" in inside[1]
    assert pdf.shaken_window(_letter(kind="nini"), dt.date(2027, 1, 5)) == []


def test_the_pdf_has_one_page_per_letter(tmp_path: Path) -> None:
    path = pdf.write(
        tmp_path / "b.pdf",
        [_letter(), _letter(reference=8, kind="inspection")],
        dealer="ジャミール商事株式会社",
        issued_on=dt.date(2027, 2, 1),
    )
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and not (tmp_path / "b.pdf.tmp").exists()
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == 2


def test_why_a_mail_waits() -> None:
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=JST)
    later = now + dt.timedelta(hours=1)
    assert "処理待ち" in sendstate.why_waiting(now, None, 0, now)
    assert "レート" in sendstate.why_waiting(later, "rate limit", 0, now)
    assert "再試行" in sendstate.why_waiting(later, "451 try again later", 2, now)
    assert sendstate.why_waiting(later, "OUTSIDE_SEND_WINDOW", 0, now).startswith("延期: ")
    assert "送信時間帯" in sendstate.why_waiting(later, None, 0, now)
