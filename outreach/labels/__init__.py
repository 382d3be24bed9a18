"""One catalogue of the Japanese words staff and customers read for the codes the system keeps:
reasons, statuses, kinds, insurers, channels, bases, audit actions, scopes. Used by the staff
console, the CLI's human output and the documents (disclosure, correction notice); `--json`
and the API keep the codes. Pure: no I/O, nothing at import but the tables.

`label(group, code)` never returns the bare code for a code the catalogue knows; for one it
does not know it returns the code (so nothing is hidden), and the catalogue scan test fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from outreach.clock import JST
from outreach.labels.words import FIELD_NAMES, GROUPS, NOTE_WORDS, REASONS, SCOPE_HEADS
from outreach.staff.spec import AUDIENCE_FIELDS

__all__ = [
    "FIELD_NAMES",
    "GROUPS",
    "NOTE_WORDS",
    "REASONS",
    "SCOPE_HEADS",
    "batch",
    "field_name",
    "has_iso_timestamp",
    "known",
    "label",
    "note",
    "person",
    "purpose_number",
    "reasons",
    "scope",
    "when",
]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def label(group: str, code: object) -> str:
    """The Japanese label of `code` in `group` ("—" for none)."""
    if code is None or code == "":
        return "—"
    key = str(code)
    table = GROUPS.get(group)
    if table is None:
        raise KeyError(f"no label group {group!r}")
    return table.get(key, key)


def known(group: str) -> Mapping[str, str]:
    return GROUPS[group]


def scope(code: str) -> str:
    """An opt-out/consent scope: all, category:x, channel:x, kind:x, purpose:pN, campaign:N."""
    if code in SCOPE_HEADS:
        return SCOPE_HEADS[code]
    head, _, rest = code.partition(":")
    if head == "category":
        return label("category", rest)
    if head == "channel":
        return f"{label('channel', rest)}での連絡"
    if head == "kind":
        return f"{label('kind', rest)}のご案内"
    if head == "purpose":
        return f"利用目的{purpose_number(rest)}"
    if head == "campaign":
        return f"キャンペーン（番号 {rest}）"
    if head == "insurer":
        return label("insurer", rest)
    if head == "insurer_share":  # consent per recipient (R5): the insurer, or the dealer
        to = "当社のご案内" if rest == "dealer" else label("insurer", rest)
        return f"保険情報の提供・利用への同意（{to}）"
    return code


def purpose_number(pid: str) -> str:
    """p3 → （3）, as the privacy policy numbers its purposes."""
    if pid.startswith("p") and pid[1:].isdigit():
        return f"（{pid[1:]}）"
    return pid


def reasons(codes: str | list[str] | None) -> str:
    if not codes:
        return "—"
    items = codes.split() if isinstance(codes, str) else codes
    return "、".join(label("reason", c) for c in items)


def when(value: dt.datetime | dt.date | str | None) -> str:
    """JST in Japanese form: 2026年12月1日 09:05 (a date: 2026年12月1日)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        j = aware.astimezone(JST)
        return f"{j.year}年{j.month}月{j.day}日 {j:%H:%M}"
    return f"{value.year}年{value.month}月{value.day}日"


def batch(name: str) -> str:
    """A print batch's name (`2026-12-02`, `2026-12-02-2`) in words: 2026年12月2日分（2）."""
    day, n = name[:10], name[11:]
    try:
        words = when(dt.date.fromisoformat(day)) + "分"
    except ValueError:
        return name
    return f"{words}（{n}）" if n else words


def has_iso_timestamp(text: str) -> bool:
    return bool(_ISO.search(text))


_NOTE = re.compile(r"\b([a-z_]+)=(\d+)\b")


def note(text: str | None) -> str:
    """An audit note such as `held=12` in words (保留 12件)."""
    if not text:
        return ""

    def word(m: re.Match[str]) -> str:
        key = m[1]
        name = NOTE_WORDS.get(key) or GROUPS["summary"].get(key, key)
        return f"{name} {m[2]}件"

    return _NOTE.sub(word, text)


def field_name(path: str) -> str:
    """A form/definition field as staff know it: `audience.vehicle.car_name` → 対象者の条件
    「車名」; `audience.0.op` → 対象者の条件（1行目）."""
    head, _, rest = path.partition(".")
    if head == "audience" and rest:
        if rest in AUDIENCE_FIELDS:
            return f"対象者の条件「{AUDIENCE_FIELDS[rest].label}」"
        first = rest.split(".", 1)[0]
        if first.isdigit():
            return f"対象者の条件（{int(first) + 1}行目）"
        return "対象者の条件"
    if head == "body":
        return field_name(rest) if rest else "入力"
    return FIELD_NAMES.get(head, "入力")


def person(username: str | None, names: Mapping[str, str]) -> str:
    """Who did something: a staff member's display name, or the system actor in words."""
    if not username:
        return "—"
    if username in names:
        return names[username]
    # actors recorded with their channel: "staff:<username>" (consent taken at the counter)
    if username.startswith("staff:"):
        who = username[6:]
        return names.get(who, "店舗スタッフ" if who in ("", "demo") else who)
    if username.startswith("cli:"):
        return f"管理コマンド（{username[4:]}）"
    return GROUPS["actor"].get(username, username)
