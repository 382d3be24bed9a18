"""Header mappings of DMS CSV exports: config/csv/<kind>.toml, validated at load.

    kind = "customers"
    [columns]            # CSV header → field (several headers may name one field: aliases)
    "顧客番号" = "external_id"
    [labels.status]      # the DMS's words for an enumeration → our values
    "在籍" = "active"

A bad file is a `ConfigError` naming the file, the line and the key.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from outreach import configfile
from outreach.errors import ConfigError
from outreach.records import fields


def normalise_header(h: str) -> str:
    """Headers compare after NFKC and without spaces or a BOM (全角/半角 variants match)."""
    return "".join(unicodedata.normalize("NFKC", h.replace("\ufeff", "")).split())


@dataclass(frozen=True)
class Mapping:
    kind: str
    path: Path
    columns: dict[str, str]  # normalised header → field
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def header_for(self, name: str) -> str:
        """The first configured header of a field (for messages about absent columns)."""
        return next((h for h, f in self.columns.items() if f == name), name)


@dataclass(frozen=True)
class Columns:
    """How one file's header row lines up with the fields."""

    index: dict[str, int]  # field → column position
    headers: list[str]  # as written in the file
    ignored: list[str]  # headers with no mapping
    problems: list[str]  # fatal: required field absent, two columns for one field


def _fail(
    doc: configfile.Document, keys: tuple[str, ...], message: str, *, whole: bool = False
) -> ConfigError:
    """The config files' one formatter; the field shown is the key as written (氏名), or
    the whole dotted key."""
    shown = keys if whole else keys[-1:]
    return ConfigError(configfile.message(doc.path, doc.line_of(keys), shown, message))


def load(config_dir: Path, kind: str) -> Mapping:
    if kind not in fields.KINDS:
        raise ConfigError(f"unknown import kind {kind!r}: use {', '.join(fields.KINDS)}")
    path = config_dir / "csv" / f"{kind}.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: header mapping not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    doc = configfile.parse(path, text)
    data = doc.data
    if data.get("kind", kind) != kind:
        raise _fail(doc, ("kind",), f"is {data.get('kind')!r}, expected {kind!r}")
    known = fields.by_name(kind)
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, dict) or not raw_columns:
        raise _fail(doc, ("columns",), "a [columns] table of header = field is required")
    columns: dict[str, str] = {}
    for header, name in raw_columns.items():
        if not isinstance(name, str) or name not in known:
            raise _fail(
                doc, ("columns", header), f"unknown field {name!r} (known: {', '.join(known)})"
            )
        columns[normalise_header(header)] = name
    for f in fields.FIELDS[kind]:
        if f.required and f.name not in columns.values():
            raise _fail(doc, ("columns",), f"required field {f.name!r} has no header")
    labels: dict[str, dict[str, str]] = {}
    for name, table in (data.get("labels") or {}).items():
        spec = known.get(name)
        if spec is None or spec.type != "choice" or not isinstance(table, dict):
            raise _fail(doc, ("labels", name), "labels are only for enumerated fields", whole=True)
        for label, value in table.items():
            if value not in spec.choices:
                raise _fail(
                    doc,
                    ("labels", name, label),
                    f"{value!r} is not one of {', '.join(spec.choices)} ({name})",
                )
        labels[name] = {unicodedata.normalize("NFKC", k).strip(): v for k, v in table.items()}
    return Mapping(kind=kind, path=path, columns=columns, labels=labels)


def line_up(mapping: Mapping, header_row: list[str]) -> Columns:
    index: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[str] = []
    for pos, header in enumerate(header_row):
        name = mapping.columns.get(normalise_header(header))
        if name is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if name in index:
            first = header_row[index[name]].strip()
            problems.append(f"列「{first}」と「{header.strip()}」が同じ項目 {name} を指しています")
            continue
        index[name] = pos
    for f in fields.FIELDS[mapping.kind]:
        if f.required and f.name not in index:
            problems.append(f"必須の列「{mapping.header_for(f.name)}」がありません")
    return Columns(index=index, headers=header_row, ignored=ignored, problems=problems)
