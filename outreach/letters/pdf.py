"""Printable letters: one A4 page per letter, set in Debian's IPA fonts with ReportLab.

The address block sits where a window envelope (長形3号) shows it; the body says what the
notice is about and which store to call, and nothing a template could get wrong: dates
come from the outbox entry itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

from outreach.candidates.calendar import add_months
from outreach.letters.columns import Letter
from outreach.render import dates

log = logging.getLogger(__name__)
BOOKING_WINDOW_MONTHS = 2  # R31, since 2025-04-01 (config/reminders.toml [shaken])
FONT_DIRS = (
    Path("/usr/share/fonts/opentype/ipafont-mincho"),
    Path("/usr/share/fonts/opentype/ipafont-gothic"),
    Path("/usr/share/fonts/truetype"),
)
FONTS = {"mincho": ("IPAMincho", "ipam.ttf"), "gothic": ("IPAGothic", "ipag.ttf")}
CID_FALLBACK = {"mincho": "HeiseiMin-W3", "gothic": "HeiseiKakuGo-W5"}
BODY = {
    "shaken": ("お客様のお車の車検満了日が近づいてまいりました。",),
    "inspection": (
        "お客様のお車の法定12ヶ月点検の時期が近づいてまいりました。",
        "安全に長くお乗りいただくため、点検のご予約をお待ちしております。",
    ),
    "jibaiseki": (
        "お客様のお車の自賠責保険の満期が近づいてまいりました。",
        "満期を過ぎると公道を走行できません。お早めに更新のお手続きをお願いいたします。",
    ),
    "nini": (
        "ご契約中の自動車保険（任意保険）の満期が近づいてまいりました。",
        "更新のお手続きについて、店舗の担当者よりご案内いたします。",
    ),
}


def shaken_window(letter: Letter, issued_on: dt.date) -> list[str]:
    """What a 車検 letter says about booking: true on the day it is printed (R31: within two
    months before expiry the expiry is kept; earlier, it moves to the inspection date)."""
    if letter.kind != "shaken" or letter.due_on is None:
        return []
    opens = add_months(letter.due_on, -BOOKING_WINDOW_MONTHS)
    if issued_on < opens:
        day = dates.jdate(opens, weekday=False)
        return [
            f"満了日を変えずに車検をお受けいただけるのは {day} からです。",
            "それより前にお受けになると、次の満了日が早まりますのでご注意ください。",
        ]
    return [
        "ただいま、満了日を変えずに車検をお受けいただける期間です。",
        "ご都合のよい日時を店舗までお知らせください。",
    ]


def _register() -> dict[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    names: dict[str, str] = {}
    for key, (name, filename) in FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            path = next((d / filename for d in FONT_DIRS if (d / filename).is_file()), None)
            if path is None:
                # Without Debian's IPA fonts (`make demo` installs them): ReportLab's
                # standard Japanese CID fonts, which the PDF viewer supplies (not embedded).
                log.warning("IPA font %s not found: using a standard CID font", filename)
                name = CID_FALLBACK[key]
                if name not in pdfmetrics.getRegisteredFontNames():
                    pdfmetrics.registerFont(UnicodeCIDFont(name))
            else:
                pdfmetrics.registerFont(TTFont(name, str(path)))
        names[key] = name
    return names


def write(path: Path, letters: Sequence[Letter], *, dealer: str, issued_on: dt.date) -> Path:
    """Write the letters as one PDF (atomically: a half-written file is never left)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen import canvas

    fonts = _register()
    tmp = path.with_suffix(".pdf.tmp")
    c = canvas.Canvas(str(tmp), pagesize=A4, pageCompression=1)
    c.setTitle(f"{dealer} ご案内状 {dates.jdate(issued_on, weekday=False)}")
    c.setAuthor(dealer)
    width, height = A4
    left, right = 25 * mm, width - 20 * mm
    for letter in letters:
        # Address block (window envelope position).
        y = height - 30 * mm
        c.setFont(fonts["gothic"], 11)
        c.drawString(left, y, letter.postal)
        c.setFont(fonts["mincho"], 12)
        for line in (letter.address1, letter.address or ""):
            y -= 6.5 * mm
            for part in simpleSplit(line, fonts["mincho"], 12, 85 * mm):
                c.drawString(left, y, part)
                y -= 5.5 * mm
            y += 5.5 * mm
        y -= 11 * mm
        c.setFont(fonts["mincho"], 16)
        c.drawString(left, y, f"{letter.name}　{'様'}")
        # Date and sender, top right.
        c.setFont(fonts["mincho"], 10.5)
        c.drawRightString(right, height - 30 * mm, dates.jdate(issued_on, weekday=False))
        c.drawRightString(right, height - 36 * mm, dealer)
        if letter.store:
            c.drawRightString(right, height - 42 * mm, letter.store)
        if letter.store_phone:
            c.drawRightString(right, height - 48 * mm, f"TEL {letter.store_phone}")
        # Title and body.
        y = height - 105 * mm
        c.setFont(fonts["gothic"], 18)
        c.drawCentredString(width / 2, y, letter.subject)
        y -= 16 * mm
        c.setFont(fonts["mincho"], 11.5)
        lines = ["拝啓　平素は格別のお引き立てを賜り、厚く御礼申し上げます。", ""]
        lines += list(BODY.get(letter.kind, ())) + shaken_window(letter, issued_on)
        for line in lines:
            for part in simpleSplit(line, fonts["mincho"], 11.5, right - left) or [""]:
                c.drawString(left, y, part)
                y -= 7 * mm
        c.drawRightString(right, y, "敬具")
        # The facts of this notice, in a ruled box.
        y -= 14 * mm
        facts = [
            ("お車", " ".join(x for x in (letter.car_name, letter.registration_number) if x)),
            (letter.due_label, letter.due_ja),
        ]
        if letter.insurer_ja:
            facts.append(("保険会社", letter.insurer_ja))
        facts.append(("お問い合わせ", " ".join(x for x in (letter.store, letter.store_phone) if x)))
        box_top = y + 6 * mm
        c.setFont(fonts["mincho"], 11.5)
        for label, value in facts:
            c.setFont(fonts["gothic"], 11)
            c.drawString(left + 4 * mm, y, label)
            c.setFont(fonts["mincho"], 11.5)
            c.drawString(left + 38 * mm, y, value)
            y -= 9 * mm
        c.setLineWidth(0.6)
        c.rect(left, y + 3 * mm, right - left, box_top - y - 3 * mm)
        c.setFont(fonts["gothic"], 8)
        c.drawString(left, 15 * mm, f"管理番号 {letter.reference}")
        c.showPage()
    if not letters:
        c.setFont(fonts["gothic"], 12)
        c.drawString(left, height - 30 * mm, "この印刷バッチにご案内状はありません。")
        c.showPage()
    c.save()
    tmp.replace(path)
    return path
