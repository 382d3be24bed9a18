"""Mail templates found by convention and checked when loaded and when saved.

A template is a folder `templates/mail/<name>/`:

    meta.toml     purpose = "p2", advertising = true|false and advertising_reason (R14),
                  stream = "reminder"|"campaign",
                  optional kind, stage, version, description
    subject.txt   email subject            ┐
    body.txt      email text part          ├ channel "email"
    body.html     email HTML part (opt.)   ┘
    post.txt      printed notice (print batches)   channel "post"
    phone.txt     call-script line (call lists)    channel "phone"

Folders whose name begins with `_` (`_base/`: layout, footer, macros) are shared includes.

The checks (`check`), the same at load and when staff save a campaign, refuse a template:
- whose purpose is unknown, or does not name a channel the template has a file for (R1);
- that is not classified as advertising or not (R14);
- that uses a field whose data item lies outside its purpose, or any `sensitive.*` field
  (R3), or a whole personal object (`{{ customer }}`), naming the file and the variable;
- that fails to render once with synthetic sample data (an unknown filter, a runtime error).

The legally required sender display (R19) is not the template's business: the composer adds
it to every advertising mail (`render.display`), so no template can drop or hide it.
`_base/footer.*` are kept empty only so older campaign texts that include them still render.
Every problem is reported, not just the first. A loaded template carries its version and a
sha256 over every source it renders from (includes too) for the send log (R28).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2

from outreach.errors import ConfigError, GateRefused, NotFound, OutreachError
from outreach.gate import purposes
from outreach.render import analysis, environment, sample
from outreach.render import dealer as dealer_mod

FILES: Mapping[str, str] = MappingProxyType(
    {
        "subject.txt": "email",
        "body.txt": "email",
        "body.html": "email",
        "post.txt": "post",
        "phone.txt": "phone",
    }
)
STREAMS = ("reminder", "campaign")
# Attributes of the variables that hold no personal data.
NON_PERSONAL_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "dealer": dealer_mod.FIELDS,
        "message": frozenset({"id", "message_id", "optout_url", "preferences_url", "advertising"}),
        "store": frozenset({"id", "code", "name", "phone", "address", "closing_weekdays"}),
        "campaign": frozenset({"id", "name", "purpose", "category", "schedule_at"}),
    }
)
MAX_INCLUDE_DEPTH = 8
_BLANKS = re.compile(r"[ \t\r\n\v\f]+")


class TemplateRefused(ConfigError):
    """A template breaks a rule; `problems` lists each one (file and variable named)."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.template = name
        self.problems = tuple(problems)
        super().__init__(f"テンプレート {name} は使用できません: " + " / ".join(problems))


class TemplateParked(ConfigError):
    """A message's catalogue template was refused when the catalogue loaded: its messages
    wait on the retry schedule (ops can fix the file); every other template still sends."""


def permanent(e: BaseException) -> bool:
    """Whether a build failure is final, retrying the same message cannot help: a refusal
    of the gate or of the checks, a render refusal (a field outside the permit, the sandbox),
    a value the MIME writer refuses (header injection). Anything else may be fixed by ops."""
    if isinstance(e, TemplateParked):
        return False
    return isinstance(e, GateRefused | TemplateRefused | environment.RenderError | ValueError)


@dataclass(frozen=True, slots=True)
class Meta:
    purpose: str
    advertising: bool
    stream: str
    kind: str | None = None
    stage: str | None = None
    version: int = 1
    description: str = ""
    # Why the template is (or is not) advertising (R14); every shipped template says why.
    advertising_reason: str = ""


@dataclass(frozen=True)
class MailTemplate:
    name: str
    meta: Meta
    sources: Mapping[str, str]  # file name → source, the template's own files
    fields: Mapping[str, frozenset[str]]  # channel → fields used (includes followed)
    items: Mapping[str, frozenset[str]]  # channel → data items used
    hash: str  # sha256 of every source rendered from, includes too (R28)
    includes: frozenset[str] = field(default_factory=frozenset)

    @property
    def version(self) -> str:
        return f"{self.name}@v{self.meta.version}"

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self.fields)

    def items_for(self, channel: str) -> frozenset[str]:
        try:
            return self.items[channel]
        except KeyError:
            raise NotFound(f"template {self.name} has no {channel} form") from None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


# -- loading -----------------------------------------------------------------------------


def parse_meta(text: str, where: str) -> Meta:
    """meta.toml → Meta; raises TemplateRefused naming the key."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TemplateRefused(where, [f"meta.toml: {e}"]) from None
    problems: list[str] = []
    unknown = set(raw) - set(Meta.__slots__)
    if unknown:
        problems.append(f"meta.toml: 不明なキー {sorted(unknown)[0]!r}")
    if not isinstance(raw.get("purpose"), str):
        problems.append('meta.toml: purpose（利用目的 id, 例 "p2"）がありません')
    if not isinstance(raw.get("advertising"), bool):
        problems.append(
            "meta.toml: advertising = true / false がありません"
            "（特定電子メールかどうかの分類が必要です, R14）"
        )
    if raw.get("stream") not in STREAMS:
        problems.append(f"meta.toml: stream は {' / '.join(STREAMS)} のいずれかです")
    for key, kind in (
        ("kind", str),
        ("stage", str),
        ("description", str),
        ("version", int),
        ("advertising_reason", str),
    ):
        if key in raw and not isinstance(raw[key], kind):
            problems.append(f"meta.toml: {key} の型が不正です")
    if problems:
        raise TemplateRefused(where, problems)
    return Meta(**raw)


def load_one(mail_dir: Path, name: str, registry: purposes.Registry) -> MailTemplate:
    folder = mail_dir / name
    if not (folder / "meta.toml").is_file():
        raise NotFound(f"template {name}: no {folder / 'meta.toml'}")
    meta = parse_meta((folder / "meta.toml").read_text(encoding="utf-8"), name)
    sources = {f: (folder / f).read_text(encoding="utf-8") for f in FILES if (folder / f).is_file()}
    renderer = environment.Renderer(environment.make(mail_dir))
    return check(name, meta, sources, registry, file_loader(mail_dir), renderer)


@dataclass(frozen=True)
class Catalog:
    """Every mail template under templates/mail/, checked. A refused template is kept as its
    refusal: asking for it raises TemplateParked, the others are unaffected."""

    templates: Mapping[str, MailTemplate]
    refused: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str) -> MailTemplate:
        try:
            return self.templates[name]
        except KeyError:
            if name in self.refused:
                raise TemplateParked(self.refused[name]) from None
            raise NotFound(f"unknown mail template {name!r}") from None

    def require_all(self) -> Catalog:
        """This catalogue, or one ConfigError listing every refused template."""
        if self.refused:
            raise ConfigError("\n".join(self.refused.values()))
        return self


def load(mail_dir: Path, registry: purposes.Registry) -> Catalog:
    """Load and check every template; a refused one is recorded in `refused`."""
    found: dict[str, MailTemplate] = {}
    refused: dict[str, str] = {}
    if not mail_dir.is_dir():
        raise ConfigError(f"no template folder {mail_dir}")
    for folder in sorted(p for p in mail_dir.iterdir() if p.is_dir()):
        if folder.name.startswith(("_", ".")):
            continue
        try:
            found[folder.name] = load_one(mail_dir, folder.name, registry)
        except TemplateRefused as e:
            refused[folder.name] = str(e)
        except (NotFound, ConfigError, OSError, UnicodeDecodeError) as e:
            refused[folder.name] = f"{folder.name}: {e}"
    return Catalog(MappingProxyType(found), MappingProxyType(refused))


def file_loader(mail_dir: Path) -> Callable[[str], str]:
    """Reads an included template by name (`_base/footer.txt`) under `mail_dir`."""
    root = mail_dir.resolve()

    def read(name: str) -> str:
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise NotFound(name)
        return path.read_text(encoding="utf-8")

    return read


# -- checking ----------------------------------------------------------------------------


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


# -- rendering ---------------------------------------------------------------------------


def render_email(
    renderer: environment.Renderer, tmpl: MailTemplate, context: Mapping[str, Any]
) -> Rendered:
    """Subject (one line, whitespace collapsed), text part and HTML part if any."""
    if "body.txt" not in tmpl.sources:
        raise NotFound(f"template {tmpl.name} has no email form")
    # One line: line breaks and runs of ASCII blanks become one space; a full-width space
    # (U+3000), which Japanese subjects use on purpose, is kept.
    subject = _BLANKS.sub(" ", _render(renderer, tmpl, "subject.txt", context)).strip(" ")
    text = _render(renderer, tmpl, "body.txt", context)
    html = _render(renderer, tmpl, "body.html", context) if "body.html" in tmpl.sources else None
    return Rendered(subject, text, html)


def render_channel(
    renderer: environment.Renderer, tmpl: MailTemplate, channel: str, context: Mapping[str, Any]
) -> str:
    """The post letter (`post`) or the call-script line (`phone`)."""
    fname = {"post": "post.txt", "phone": "phone.txt"}.get(channel)
    if fname is None or fname not in tmpl.sources:
        raise NotFound(f"template {tmpl.name} has no {channel} form")
    return _render(renderer, tmpl, fname, context)


def _render(
    renderer: environment.Renderer, tmpl: MailTemplate, fname: str, context: Mapping[str, Any]
) -> str:
    # Render the checked source (not the file as it may be now) so what was checked is sent.
    return renderer.render_string(
        tmpl.sources[fname], context, html=fname.endswith(".html"), label=f"{tmpl.name}/{fname}"
    )
