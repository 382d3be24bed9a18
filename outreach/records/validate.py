"""Cell validators for DMS imports: each takes the cell text and returns the typed value or
raises `ValueError` with a Japanese reason for the error report. Pure: no I/O.

Empty cells are handled by the caller (None, or "required" when the field is required).
The same validators check every other way a customer field is written (the staff correction
form, the API), and `refuse_controls` is the one check for control characters everywhere:
C0 (tab only where `allow` says so), DEL, C1, and the Unicode line and paragraph
separators. A name or an address with CR/LF or ESC in it can break a mail header, a CSV, a
terminal or a log line; none of them is ever stored.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from outreach.records import wareki

_POSTAL_RE = re.compile(r"^(\d{3})-?(\d{4})$")
# Local part: RFC 5322 atext and dots. Consecutive dots and a dot before "@" are allowed on
# purpose: Japanese carrier addresses issued before 2009 (docomo, au) contain them and still
# receive mail, and a DMS holds many of them.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}@"
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE_STRIP = re.compile(r"[\s()\-]")


_CONTROLS = frozenset(
    [*map(chr, range(0x00, 0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"]
)
_CONTROL_NAMES = {
    "\t": "タブ",
    "\n": "改行 LF",
    "\r": "復帰 CR",
    "\x1b": "ESC",
    "\x00": "NUL",
    "\x7f": "DEL",
    "\x85": "改行 NEL",
    "\u2028": "行区切り",
    "\u2029": "段落区切り",
}


def control_character(value: str, *, allow: str = "") -> tuple[int, str] | None:
    """The first control character of `value` not in `allow`: (position from 1, char)."""
    for i, ch in enumerate(value, 1):
        if ch in _CONTROLS and ch not in allow:
            return i, ch
    return None


def refuse_controls(value: str, *, allow: str = "") -> str:
    """`value` unchanged, or ValueError naming the first control character and where it is."""
    found = control_character(value, allow=allow)
    if found is not None:
        pos, ch = found
        name = _CONTROL_NAMES.get(ch, "制御文字")
        raise ValueError(f"使えない制御文字 ({name}, U+{ord(ch):04X}) が{pos}文字目にあります")
    return value


def text(value: str, *, max_len: int) -> str:
    refuse_controls(value)
    # No Unicode normalisation: NFC/NFKC would rewrite some CJK compatibility ideographs that
    # people write their names with; a name is kept exactly as the DMS holds it.
    s = value.strip()
    if len(s) > max_len:
        raise ValueError(f"{max_len}文字を超えています ({len(s)}文字)")
    return s


def kana(value: str, *, max_len: int) -> str:
    """Furigana: half-width katakana (ﾔﾏﾀﾞ) becomes full-width (ヤマダ)."""
    refuse_controls(value)
    return text(unicodedata.normalize("NFKC", value), max_len=max_len)


def postal_code(value: str) -> str:
    """NNN-NNNN or 7 digits (full-width too, with or without 〒) → NNN-NNNN."""
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip().removeprefix("〒").strip()
    s = s.replace("ー", "-").replace("−", "-")
    m = _POSTAL_RE.match(s)
    if not m:
        raise ValueError("郵便番号の形式が不正です (NNN-NNNN または7桁)")
    return f"{m[1]}-{m[2]}"


def email(value: str) -> str:
    """A plausible address, domain lower-cased. The error never quotes the value: it is
    printed and written to the import's error report (the line and column say where)."""
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip()
    if not _EMAIL_RE.match(s) or s.startswith("."):
        raise ValueError("メールアドレスの形式が不正です")
    local, domain = s.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def phone(value: str) -> str:
    """A Japanese number: 10 digits (fixed line, 0120) or 11 (070/080/090 mobile, 050 IP),
    hyphens optional; +81 is read as the leading 0. Returned as written, normalised to ASCII."""
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip().replace("ー", "-").replace("−", "-")
    digits = _PHONE_STRIP.sub("", s)
    if digits.startswith("+81"):
        digits = "0" + digits[3:]
        s = "0" + s[3:].lstrip("-( ")
    if not digits.isdigit() or not digits.startswith("0"):
        raise ValueError("電話番号の形式が不正です")
    mobile = digits[:3] in ("070", "080", "090", "050", "060")
    if len(digits) != (11 if mobile else 10) or digits.startswith("00"):
        raise ValueError(f"電話番号の桁数が不正です ({len(digits)}桁)")
    return s.replace("(", "-").replace(")", "-").replace(" ", "").replace("--", "-")


def date(value: str) -> dt.date:
    refuse_controls(value)
    return wareki.parse(value)


def year_month(value: str) -> dt.date:
    refuse_controls(value)
    return wareki.parse(value, month_only=True)


def integer(value: str) -> int:
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip()
    try:
        return int(s)
    except ValueError:
        raise ValueError(f"整数ではありません: {value!r}") from None


def boolean(value: str) -> bool:
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip().lower()
    if s in ("1", "true", "yes", "y", "はい", "有", "あり", "○", "〇"):
        return True
    if s in ("0", "false", "no", "n", "いいえ", "無", "なし", "×", "-"):
        return False
    raise ValueError(f"はい/いいえ として解釈できません: {value!r}")


def datetime_jst(value: str) -> dt.datetime:
    """A date, or a date and time (2025/3/31 10:15, ISO 8601), read in Asia/Tokyo."""
    refuse_controls(value)
    from outreach.clock import JST

    s = unicodedata.normalize("NFKC", value).strip()
    try:
        parsed = dt.datetime.fromisoformat(s.replace("/", "-"))
    except ValueError:
        return dt.datetime.combine(wareki.parse(s), dt.time(0, 0), tzinfo=JST)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)


def choice(value: str, labels: Mapping[str, str]) -> str:
    """An enumeration: the mapping's label (e.g. 東京海上日動 → tokio_marine) or a value."""
    refuse_controls(value)
    s = unicodedata.normalize("NFKC", value).strip()
    if s in labels:
        return labels[s]
    if s in labels.values():
        return s
    allowed = " / ".join(dict.fromkeys([*labels.keys()]))
    raise ValueError(f"値が不正です: {value!r} (使える値: {allowed})")


Parser = Callable[[str], Any]
