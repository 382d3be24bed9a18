"""Promotional wording in a message text (R14 mixed content). Pure.

A message that promotes goods or services is advertising (特定電子メール) even when it is sent
under a service-notice purpose: a recall notice that also offers a tyre sale is advertising.
`promotional` finds the wording that makes it so — sales, discounts, benefits, campaigns,
free-inspection offers, new-model launches, test drives, gifts — after NFKC normalisation
(full-width ％ and ＯＦＦ count). An approver cannot certify a text non-advertising while any
is found. The list errs on the side of finding too much: staff can reword a notice, but a
promotion sent without consent cannot be recalled.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# (pattern, what it is) — matched on NFKC-normalised, lower-cased text.
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"セール|バーゲン|sale\b", "セール"),
    (r"割引|値引|割安|特価|格安|お値打ち", "割引・特価"),
    (r"\d+\s*%\s*(?:オフ|off|引)|\d+\s*割\s*(?:オフ|off|引)|半額", "％オフ・半額"),
    (
        r"特典|プレゼント|ノベルティ|粗品|クーポン|ポイント\s*(?:還元|進呈|\d+\s*倍)",
        "特典・プレゼント",
    ),
    (r"キャンペーン|フェア\b|フェア[をのに]|感謝祭|商談会|展示会|試乗会", "キャンペーン・フェア"),
    (r"無料\s*(?:点検|診断|洗車|査定|見積|交換|お試し|体験)", "無料点検などのご提供"),
    (r"新型|新モデル|ニューモデル|新車発表|発表会|デビュー|新登場|発売", "新型車・新商品のご案内"),
    (r"試乗", "試乗のご案内"),
    (r"お得|おトク|限定|先着|今だけ|期間中", "お得・限定のお知らせ"),
    (r"下取り?|買取|乗り換え|お乗り換え|ご成約|ご購入", "購入・乗り換えのお誘い"),
    (r"見直し", "保険などの見直しのお誘い"),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), label) for p, label in PATTERNS)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def promotional(texts: Iterable[str]) -> list[tuple[str, str]]:
    """Each (wording found, what it is), in order of first appearance, without repeats."""
    found: dict[str, str] = {}
    for text in texts:
        flat = normalise(text)
        # Shown as written (２０％ＯＦＦ) where normalising kept the length, else normalised.
        shown = text if len(flat) == len(text) else flat
        hits = sorted(
            (m.start(), shown[m.start() : m.end()], label)
            for rx, label in _COMPILED
            for m in rx.finditer(flat)
        )
        for _, word, label in hits:
            found.setdefault(word, label)
    return list(found.items())
