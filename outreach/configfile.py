"""Reading a TOML config file into a pydantic model, so every error names file, line and field.

`read(path)` parses a file and keeps its text; `validate(doc, Model)` checks the data against
a pydantic model. Every problem — a syntax error, a wrong type, a wrong value, a reference to
something the file does not define — becomes ONE `ConfigError` from ONE formatter, `message`:

    config/gate.toml:12: windows.phone.end: must be after start (windows do not cross midnight)

`tomllib` reports syntax errors with a line; for a value, `Document.line_of` finds the line of
the offending key (or of its nearest parent) by scanning table headers and `key =` lines. It
is the one line finder of the config files.

A validator that judges one field raises `ValueError` (pydantic names the field); a check
across fields (an item a purpose names must exist) raises `Problem` with the keys to name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from outreach.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Key = str | int

_HEADER = re.compile(r"^\s*(?P<open>\[\[?)\s*(?P<keys>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*(?P<key>(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="""
)
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*""")


class Model(BaseModel):
    """The base of every config model: strict types (TOML has them), unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Problem(Exception):
    """A check across fields failed; `keys` names the field to point at.

    Deliberately not a ValueError: it passes through pydantic to `validate` unchanged.
    """

    def __init__(self, keys: Sequence[Key], problem: str) -> None:
        super().__init__(problem)
        self.keys = tuple(keys)
        self.problem = problem


def field_name(keys: Sequence[Key]) -> str:
    """Dotted, with array positions in brackets: kinds.shaken.stages[2].months_before."""
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def message(path: Path | str, line: int | None, keys: Sequence[Key], problem: str) -> str:
    """The one formatter: `file:line: field: problem` (no line when none is known)."""
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {field_name(keys)}: {problem}" if keys else f"{where}: {problem}"


def parse_field(dotted: str) -> tuple[Key, ...]:
    """`kinds.shaken.stages[2].months_before` → ("kinds", "shaken", "stages", 2, ...)."""
    out: list[Key] = []
    for part in dotted.split("."):
        m = re.fullmatch(r"(?P<name>[^\[]*)(?P<idx>(\[\d+\])*)", part)
        if m is None:
            out.append(part)
            continue
        if m.group("name"):
            out.append(m.group("name"))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group("idx"))]
    return tuple(out)


def _split(keys: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(keys))


@dataclass(frozen=True)
class Document:
    """A parsed TOML file with its text kept to point at lines."""

    path: Path
    data: dict[str, Any]
    lines: tuple[str, ...]

    def line_of(self, keys: Sequence[Key]) -> int | None:
        """The line (1-based) where the key `keys` is defined, or its nearest parent's.

        Array-of-tables elements are counted: ("kinds", "shaken", "stages", 2) is the third
        `[[kinds.shaken.stages]]`; a position in an inline array points at the array's line.
        """
        want = tuple(keys)
        table: tuple[Key, ...] = ()
        arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path → elements seen
        best: tuple[int, int] | None = None  # (matched length, line)
        for n, line in enumerate(self.lines, start=1):
            if line.lstrip().startswith("#"):
                continue
            h = _HEADER.match(line)
            if h:
                names = _split(h.group("keys"))
                if h.group("open") == "[[":
                    arrays[names] = arrays.get(names, 0) + 1
                table = _indexed(names, arrays)
                full = table
            else:
                k = _KEY.match(line)
                if not k:
                    continue
                full = table + _split(k.group("key"))
            if full == want:
                return n
            if want[: len(full)] == full and (best is None or len(full) > best[0]):
                best = (len(full), n)
        return best[1] if best else None

    def error(self, keys: Sequence[Key], problem: str) -> ConfigError:
        return ConfigError(message(self.path, self.line_of(keys), keys, problem))


def _indexed(names: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> tuple[Key, ...]:
    """A header's path with the position of each array of tables it passes through."""
    out: list[Key] = []
    for i, name in enumerate(names, start=1):
        out.append(name)
        seen = arrays.get(names[:i])
        if seen:
            out.append(seen - 1)
    return tuple(out)


def read(path: Path) -> Document:
    """Parse `path`; a missing file or a syntax error is one ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    return parse(path, text)


def parse(path: Path, text: str) -> Document:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line L, column C)": lead with file:line as well.
        m = re.search(r"at line (\d+)", str(e))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ConfigError(f"{where}: invalid TOML: {e}") from None
    return Document(path=path, data=data, lines=tuple(text.splitlines()))


def validate(doc: Document, model: type[M], data: Any = None) -> M:
    """`data` (default: the whole file) as `model`; the first problem is one ConfigError."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except Problem as p:
        raise doc.error(p.keys, p.problem) from None
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        keys = tuple(first["loc"])
        raise doc.error(keys, _problem(first)) from None


def load(path: Path, model: type[M]) -> tuple[Document, M]:
    doc = read(path)
    return doc, validate(doc, model)


_KINDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_type": "a date (YYYY-MM-DD)",
    "float_type": "a number",
    "time_type": "a time HH:MM",
}
_TOML_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a table",
    "date": "a date",
    "datetime": "a date and time",
}


def _problem(err: Any) -> str:
    kind: str = err["type"]
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind in _KINDS:
        got = type(err["input"]).__name__
        return f"must be {_KINDS[kind]}, not {_TOML_TYPES.get(got, got)}"
    return str(err["msg"]).replace("Input should be", "must be").replace("Value error, ", "")
