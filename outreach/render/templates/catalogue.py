"""The template catalogue: the folders under templates/mail/, found by convention, each
loaded and checked (a refused one kept as its refusal)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from outreach.errors import ConfigError, NotFound
from outreach.gate import purposes
from outreach.render import environment
from outreach.render.templates.lint import check
from outreach.render.templates.model import (
    FILES,
    STREAMS,
    MailTemplate,
    Meta,
    TemplateParked,
    TemplateRefused,
)


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
