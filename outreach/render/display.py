"""The sender display every advertising mail must carry (特定電子メール法 Art. 4, Rule 9; R19),
added by the composer, never by a template, and checked on the rendered output.

`add` appends the block to the text part and inserts it before `</body>` of the HTML part
(or appends it): the sender's name, postal address, a contact for questions and complaints,
the opt-out link with the statement that the reader can opt out at once and that an opt-out
is honoured. The values come from `config/dealer.toml`; no template can drop or hide them.

`problems` is the defence in depth: it reads the rendered parts as a reader would — the
text part as it is, the HTML part's *visible* text (not inside comments, `<head>`,
`<style>`, `<script>`, `<template>`, or an element that is `hidden` or styled out of
sight) — and names every required value it does not find. A template that leaves an open
comment or an unclosed hidden element swallows the block and is refused. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

from outreach.render import dealer as dealer_mod

RULE = "――――――――――――――――――――――――――――――"
OPTOUT_STATEMENT = (
    "今後このようなメールの配信を希望されない場合は、下記のリンクから直ちに配信を停止できます。"
    "配信停止のお申し出は直ちに反映し、以後の広告メールはお送りしません。"
)
LABELS = {
    "sender_name": "送信者の氏名又は名称",
    "postal_address": "送信者の住所",
    "contact_phone": "苦情・問合せの連絡先",
    "optout_url": "配信停止（オプトアウト）のリンク",
    "statement": "直ちに配信を停止できる旨の表示",
}
_END_BODY = re.compile(r"</body\s*>", re.IGNORECASE)
_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$)"
    r"|font-size\s*:\s*0|max-height\s*:\s*0|height\s*:\s*0|mso-hide\s*:\s*all",
    re.IGNORECASE,
)
_INVISIBLE_TAGS = frozenset({"head", "style", "script", "template", "title", "noscript"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass(frozen=True, slots=True)
class Links:
    optout_url: str
    preferences_url: str


def text_block(d: dealer_mod.Dealer, links: Links) -> str:
    brand = f"（{d.brand}）" if d.brand else ""
    hours = f"（{d.contact_hours}）" if d.contact_hours else ""
    lines = [
        RULE,
        f"このメールは {d.sender_name} からお送りしています。",
        f"送信者：{d.sender_name}{brand}",
        f"住所：{d.postal_code} {d.postal_address}",
        f"お問い合わせ・苦情のご連絡先：{d.contact_phone}{hours}",
    ]
    if d.contact_email:
        lines.append(f"メールでのお問い合わせ：{d.contact_email}")
    lines += [
        OPTOUT_STATEMENT,
        f"配信停止：{links.optout_url}",
        f"配信内容の設定・変更：{links.preferences_url}",
    ]
    if d.privacy_policy_url:
        lines.append(f"個人情報の取り扱いについて：{d.privacy_policy_url}")
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def html_block(d: dealer_mod.Dealer, links: Links) -> str:
    e = escape
    brand = f"（{e(d.brand)}）" if d.brand else ""
    hours = f"（{e(d.contact_hours)}）" if d.contact_hours else ""
    mail = f"<br>\nメールでのお問い合わせ：{e(d.contact_email)}" if d.contact_email else ""
    policy = (
        f'\n／<a href="{e(d.privacy_policy_url)}" style="color:#1a4d8f;">'
        "個人情報の取り扱いについて</a>"
        if d.privacy_policy_url
        else ""
    )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="border-top:1px solid #999999;margin-top:24px;">\n'
        '<tr><td style="padding:16px 0;font-size:14px;line-height:1.7;color:#333333;">\n'
        f'<p style="margin:0 0 8px 0;">このメールは {e(d.sender_name)} からお送りしています。</p>\n'
        f'<p style="margin:0;">送信者：{e(d.sender_name)}{brand}<br>\n'
        f"住所：{e(d.postal_code)} {e(d.postal_address)}<br>\n"
        "お問い合わせ・苦情のご連絡先："
        f'<a href="tel:{e(d.contact_phone)}" style="color:#1a4d8f;">{e(d.contact_phone)}</a>'
        f"{hours}{mail}</p>\n"
        f'<p style="margin:12px 0 0 0;">{e(OPTOUT_STATEMENT)}<br>\n'
        f'<a href="{e(links.optout_url)}" style="color:#1a4d8f;">配信停止はこちら</a>\n'
        f'／<a href="{e(links.preferences_url)}" style="color:#1a4d8f;">配信内容の設定・変更</a>'
        f"{policy}</p>\n"
        "</td></tr>\n</table>\n"
    )


def add(text: str, html: str | None, d: dealer_mod.Dealer, links: Links) -> tuple[str, str | None]:
    """The text and HTML parts with the sender display added."""
    text, html, _ = insert(text, html, d, links)
    return text, html


def insert(
    text: str, html: str | None, d: dealer_mod.Dealer, links: Links
) -> tuple[str, str | None, int]:
    """`add`, and where the block starts in the HTML part (-1 without one)."""
    if not text.endswith("\n"):
        text += "\n"
    text = f"{text}\n{text_block(d, links)}"
    at = -1
    if html is not None:
        block = html_block(d, links)
        ends = list(_END_BODY.finditer(html))
        if ends:
            at = ends[-1].start()
            html = html[:at] + block + html[at:]
        else:
            html = html + ("" if html.endswith("\n") else "\n")
            at = len(html)
            html += block
    return text, html, at


class _Visible(HTMLParser):
    """Collects the text a reader sees and the links they can click."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self.hidden = 0
        self.text: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hides = (
            tag in _INVISIBLE_TAGS
            or "hidden" in a
            or a.get("aria-hidden") == "true"
            or bool(_HIDING_STYLE.search(a.get("style") or ""))
        )
        if tag == "a" and not self.hidden and not hides and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag in _VOID:
            return
        self.stack.append((tag, hides))
        if hides:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching open tag (HTML's implied end tags), none if it is not open.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _, hides in self.stack[i:]:
                    if hides:
                        self.hidden -= 1
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.text.append(data)


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


def visible(html: str) -> tuple[str, list[str]]:
    """The visible text of an HTML part and its visible link targets."""
    p = _Visible()
    # As a mail reader parses it (HTML5): a comment left open runs to the end of the part.
    p.feed(_COMMENT.sub("", html))
    p.close()  # an unterminated comment or tag at the end stays unseen
    return "".join(p.text), p.hrefs


_TOKEN = re.compile(r"<!--|<(/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>\"']+|\"[^\"]*\"|'[^']*')*)>")
_RAW_TEXT = frozenset({"style", "script", "title", "textarea", "xmp", "noscript"})
_BALANCED = tuple(sorted(_RAW_TEXT | {"head", "template"}))
# Substrings without which nothing before the block can hide it (checked in C, no regex).
_MARKERS = (
    "<!--", "hidden", "display", "visibility", "opacity", "mso-hide",
    "font-size:0", "font-size: 0", "height:0", "height: 0",
)  # fmt: skip
_HIDDEN_ATTR = re.compile(r"(?:^|\s)(?:hidden|aria-hidden\s*=\s*[\"']?true)(?:[\s=>/]|$)", re.I)
_STYLE_ATTR = re.compile(r"style\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.I)


def hidden_at(html: str, at: int) -> str | None:
    """Why a reader would not see what stands at `html[at]`, or None when it is visible.

    A tag scanner (no full parse: this runs for every message): an open comment, an open
    raw-text element (`<style>`, `<script>`, `<title>`…), an open element that is invisible
    (`<head>`, `<template>`) or hidden (`hidden`, `aria-hidden`, a hiding inline style),
    or a `<style>` sheet anywhere that hides something (it could target the display).
    Most parts have none of the markers any of that needs: those skip the scan."""
    lowered = html.lower()
    head = lowered[:at]
    if (
        "<style" not in lowered
        and not any(k in head for k in _MARKERS)
        and all(
            f"<{t}" not in head or head.count(f"<{t}") == head.count(f"</{t}") for t in _BALANCED
        )
    ):
        return None
    for sheet in re.finditer(r"<style[^>]*>(.*?)(?:</style\s*>|\Z)", html, re.I | re.S):
        if _HIDING_STYLE.search(sheet.group(1)):
            return "a style sheet hides content"
    stack: list[tuple[str, bool]] = []
    pos = 0
    while True:
        m = _TOKEN.search(html, pos, at)
        if m is None:
            break
        if m.group(0) == "<!--":
            end = html.find("-->", m.end())
            if end < 0 or end + 3 > at:
                return "inside an HTML comment"
            pos = end + 3
            continue
        closing, tag, attrs = m.group(1), m.group(2).lower(), m.group(3)
        pos = m.end()
        if closing:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == tag:
                    del stack[i:]
                    break
            continue
        if tag in _RAW_TEXT:
            end = lowered.find(f"</{tag}", pos)
            if end < 0 or end >= at:
                return f"inside <{tag}>"
            pos = end
            continue
        if tag in _VOID or attrs.rstrip().endswith("/"):
            continue
        style = _STYLE_ATTR.search(attrs)
        hides = (
            tag in _INVISIBLE_TAGS
            or bool(_HIDDEN_ATTR.search(attrs))
            or (style is not None and bool(_HIDING_STYLE.search(style.group(1))))
        )
        stack.append((tag, hides))
    hiding = [t for t, h in stack if h]
    return f"inside a hidden <{hiding[-1]}>" if hiding else None


def problems(text: str, html: str | None, d: dealer_mod.Dealer, links: Links) -> list[str]:
    """Every required value missing from what a reader sees; empty when the display is there."""
    want = {
        "sender_name": d.sender_name,
        "postal_address": d.postal_address,
        "contact_phone": d.contact_phone,
    }
    out: list[str] = []
    parts: list[tuple[str, str, list[str] | None]] = [("body.txt", text, None)]
    if html is not None:
        seen, hrefs = visible(html)
        parts.append(("body.html", seen, hrefs))
    statement = OPTOUT_STATEMENT.split("。")[0]
    for name, seen, links_seen in parts:
        flat = seen.replace("\r", "")
        for key, value in want.items():
            if value not in flat:
                out.append(f"{name}: 表示義務事項がありません: {LABELS[key]} (R19)")
        if statement not in flat:
            out.append(f"{name}: 表示義務事項がありません: {LABELS['statement']} (R19)")
        found = links.optout_url in (links_seen if links_seen is not None else flat)
        if not found:
            out.append(f"{name}: 表示義務事項がありません: {LABELS['optout_url']} (R19)")
    return out
