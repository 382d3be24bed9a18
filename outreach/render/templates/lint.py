"""The template checks, the same at load and when staff save a campaign: purpose and
channels (R1), advertising classification (R14), fields within the purpose and never
`sensitive.*` (R3), includes followed, and one trial render with sample data."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

import jinja2

from outreach.errors import ConfigError, NotFound, OutreachError
from outreach.gate import purposes
from outreach.render import analysis, environment, sample
from outreach.render import dealer as dealer_mod
from outreach.render.templates.model import (
    FILES,
    NON_PERSONAL_FIELDS,
    STREAMS,
    MailTemplate,
    Meta,
    TemplateRefused,
)

MAX_INCLUDE_DEPTH = 8


def check(
    name: str,
    meta: Meta,
    sources: Mapping[str, str],
    registry: purposes.Registry,
    read_include: Callable[[str], str],
    renderer: environment.Renderer | None = None,
) -> MailTemplate:
    """Check a template's sources against its declared purpose; TemplateRefused if any rule
    is broken. Used at load (files) and when staff save a campaign (text from the form).

    With a `renderer`, each file is also compiled and rendered once with sample data: an
    unknown filter or a runtime error is found now rather than at send time."""
    problems: list[str] = []
    try:
        purpose: purposes.Purpose | None = registry.purpose(meta.purpose)
    except NotFound:
        purpose = None
        problems.append(f"利用目的 {meta.purpose!r} はプライバシーポリシーにありません")
    if meta.stream not in STREAMS:
        problems.append(f"stream {meta.stream!r} は reminder / campaign のいずれかです")
    unknown_files = set(sources) - set(FILES)
    if unknown_files:
        problems.append(f"不明なファイル {sorted(unknown_files)[0]}")
    if sources.get("body.txt") is None and ("subject.txt" in sources or "body.html" in sources):
        problems.append("メールには subject.txt と body.txt が必要です")
    if "body.txt" in sources and "subject.txt" not in sources:
        problems.append("メールには subject.txt と body.txt が必要です")
    if not any(f in sources for f in FILES):
        problems.append("テンプレートのファイルがありません")

    included: dict[str, str] = {}
    per_file: dict[str, frozenset[str]] = {}
    for fname, source in sources.items():
        if fname not in FILES:
            continue
        used = _fields_with_includes(fname, source, read_include, included, problems)
        if used is not None:
            per_file[fname] = used

    fields_by_channel: dict[str, set[str]] = {}
    for fname, used in per_file.items():
        fields_by_channel.setdefault(FILES[fname], set()).update(used)
        problems.extend(_field_problems(fname, used, purpose, registry))

    if purpose is not None:
        for channel in sorted({FILES[f] for f in sources if f in FILES}):
            if channel not in purpose.channels:
                problems.append(
                    f"利用目的 {purpose.id} {purpose.number} は {channel} での連絡を含みません"
                )

    if not problems and renderer is not None:
        problems.extend(_trial_render(meta, sources, renderer))
    if problems:
        raise TemplateRefused(name, list(dict.fromkeys(problems)))

    items = {
        channel: registry.items_for_fields(_personal(fs))
        for channel, fs in fields_by_channel.items()
    }
    digest = hashlib.sha256()
    for fname, source in sorted(
        {**sources, **{f"include:{k}": v for k, v in included.items()}}.items()
    ):
        digest.update(fname.encode() + b"\x00" + source.encode("utf-8") + b"\x00")
    digest.update(repr(meta).encode())
    return MailTemplate(
        name=name,
        meta=meta,
        sources=MappingProxyType(dict(sources)),
        fields=MappingProxyType({c: frozenset(fs) for c, fs in fields_by_channel.items()}),
        items=MappingProxyType(items),
        hash=digest.hexdigest(),
        includes=frozenset(included),
    )


_TRIAL_DAY = dt.date(2026, 1, 5)


def _trial_render(
    meta: Meta, sources: Mapping[str, str], renderer: environment.Renderer
) -> list[str]:
    trial_dealer = dealer_mod.Dealer(
        sender_name="R19-SENDER-NAME",
        postal_code="〒100-0001",
        postal_address="R19-POSTAL-ADDRESS",
        contact_phone="R19-CONTACT",
        brand="LEXUS",
    )
    ctx = sample.context(trial_dealer, _TRIAL_DAY)
    problems: list[str] = []
    for fname, source in sources.items():
        try:
            renderer.render_string(source, ctx, html=fname.endswith(".html"), label=fname)
        except environment.RenderError as e:
            problems.append(f"{fname}: サンプルデータで表示できません: {e}")
    return problems


def _personal(fields: set[str] | frozenset[str]) -> frozenset[str]:
    return frozenset(f for f in fields if f.split(".", 1)[0] not in purposes.NON_PERSONAL)


def _fields_with_includes(
    fname: str,
    source: str,
    read_include: Callable[[str], str],
    included: dict[str, str],
    problems: list[str],
    depth: int = 0,
) -> frozenset[str] | None:
    """Fields of `source` and of everything it includes or imports (they see the context)."""
    try:
        used = set(analysis.fields_used(source))
        names = analysis.includes(source)
    except jinja2.TemplateSyntaxError as e:
        problems.append(f"{fname} {e.lineno}行目: 構文エラー: {e.message}")
        return None
    for inc in names:
        if inc is None:
            problems.append(f"{fname}: include するテンプレート名は固定の文字列にしてください")
            continue
        if depth >= MAX_INCLUDE_DEPTH:
            problems.append(f"{fname}: include が深すぎます（循環していませんか）")
            continue
        if inc not in included:
            try:
                included[inc] = read_include(inc)
            except (NotFound, OSError):
                problems.append(f"{fname}: include するテンプレート {inc} がありません")
                continue
        sub = _fields_with_includes(inc, included[inc], read_include, included, problems, depth + 1)
        if sub is not None:
            used |= sub
    return frozenset(used)


def _field_problems(
    fname: str,
    used: frozenset[str],
    purpose: purposes.Purpose | None,
    registry: purposes.Registry,
) -> list[str]:
    problems: list[str] = []
    for f in sorted(used):
        top, _, attr = f.partition(".")
        if top == "sensitive":
            problems.append(f"{fname}: {f} は要配慮個人情報です。テンプレートでは使えません (R3)")
            continue
        allowed = NON_PERSONAL_FIELDS.get(top)
        if allowed is not None:
            if attr and attr not in allowed:  # a bare `store` (e.g. `{% if store %}`) is fine
                problems.append(f"{fname}: 不明な変数 {f}")
            continue
        if top in purposes.PERSONAL and not attr:
            problems.append(f"{fname}: {top} 全体ではなく {top}.項目名 の形で使ってください")
            continue
        try:
            items = registry.field_items(f)
        except (ConfigError, OutreachError):
            problems.append(f"{fname}: 不明な変数 {f}")
            continue
        if purpose is not None:
            outside = items - purpose.items
            for item in sorted(outside):
                label = registry.items[item].label if item in registry.items else item
                problems.append(
                    f"{fname}: {f}（{label}）は利用目的 {purpose.id} {purpose.number} "
                    "の範囲外のデータ項目です"
                )
    return problems
