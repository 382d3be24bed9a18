"""Reading a TOML config file so that every error names the file, the line and the field.

`tomllib` reports syntax errors with a line; for semantic errors (a wrong value) we find the
line of the offending key ourselves, by scanning table headers and `key =` lines.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from outreach.errors import ConfigError

T = TypeVar("T")

_HEADER = re.compile(r"^\s*\[\[?\s*(?P<keys>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*(?P<key>(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="""
)
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*""")


def _split(keys: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(keys))


@dataclass(frozen=True)
class Document:
    """A parsed TOML file with enough of its text kept to point at lines."""

    path: Path
    data: dict[str, Any]
    lines: tuple[str, ...]

    def line_of(self, keys: Sequence[str]) -> int | None:
        """The line (1-based) where the dotted key `keys` is defined, or its nearest parent."""
        want = tuple(str(k) for k in keys)
        table: tuple[str, ...] = ()
        best: tuple[int, int] | None = None  # (matched length, line)
        for n, line in enumerate(self.lines, start=1):
            h = _HEADER.match(line)
            if h and not line.lstrip().startswith("#"):
                table = _split(h.group("keys"))
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

    def error(self, keys: Sequence[str], problem: str) -> ConfigError:
        line = self.line_of(keys)
        where = f"{self.path}:{line}" if line else str(self.path)
        field = ".".join(str(k) for k in keys)
        return ConfigError(f"{where}: {field}: {problem}")

    # Typed accessors: each raises the one clear error on a missing or wrongly typed value.

    def table(
        self, parent: dict[str, Any], keys: Sequence[str], *, required: bool = True
    ) -> dict[str, Any]:
        value = parent.get(keys[-1])
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.error(keys, "missing table" if value is None else "must be a table")
        return value

    def get(
        self,
        parent: dict[str, Any],
        keys: Sequence[str],
        kind: type[T],
        default: T | None = None,
    ) -> T:
        value = parent.get(keys[-1])
        if value is None:
            if default is not None:
                return default
            raise self.error(keys, f"missing ({_name(kind)} required)")
        if kind is int and isinstance(value, bool):
            raise self.error(keys, "must be an integer")
        if not isinstance(value, kind):
            raise self.error(keys, f"must be {_name(kind)}, not {type(value).__name__}")
        return value

    def strings(
        self, parent: dict[str, Any], keys: Sequence[str], *, default: list[str] | None = None
    ) -> list[str]:
        value = self.get(parent, keys, list, default)
        for v in value:
            if not isinstance(v, str):
                raise self.error(keys, f"must be a list of strings, found {v!r}")
        return list(value)


def _name(kind: type[Any]) -> str:
    return {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a table",
        dt.date: "a date (YYYY-MM-DD)",
    }.get(kind, kind.__name__)


def read(path: Path) -> Document:
    """Parse `path`; a missing file or a syntax error is one ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line L, column C)": lead with file:line as well.
        m = re.search(r"at line (\d+)", str(e))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ConfigError(f"{where}: invalid TOML: {e}") from None
    return Document(path=path, data=data, lines=tuple(text.splitlines()))
