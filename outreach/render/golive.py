"""The go-live guard: no advertising mail, no outbox worker, and no published document
(the /privacy page, `outreach policy render`, the incident notice) while the sender's details,
the purpose registry or the policy texts still hold placeholders.

A placeholder is a string value (comments do not count) containing `[verify]`, `〒000-0000`,
`送信開始前に記入` or `公表前に記入`, or any value that a top-level `placeholders = [...]` list
of the same file names. `check` returns every one found; `require_live` raises one
ConfigError naming the file and the field of the first, and how many there are. Pure apart
from reading the files.

The files checked are those the mail and the documents print: the dealer file in use, the
purpose registry (policy page, disclosure) and config/policy.toml (policy page). On the demo
dealer file (config/dealer.demo.toml, `make demo`) policy.toml is not checked: its go-live
values (the 個人情報保護管理者's name, the fees) are the real dealer's to fill in, and every
document of the demo names the demo sender.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach.errors import ConfigError

MARKERS = ("[verify]", "〒000-0000", "送信開始前に記入", "公表前に記入")
DEMO_FILE = "dealer.demo.toml"  # outreach.render.dealer.DEMO_FILE (no import: a pure module)


def is_demo(dealer_file: Path) -> bool:
    return dealer_file.name == DEMO_FILE


def is_placeholder(value: str) -> bool:
    """A value that still holds a go-live marker (the documents never print one)."""
    return any(m in value for m in MARKERS)


@dataclass(frozen=True, slots=True)
class Placeholder:
    file: Path
    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field} = {self.value!r}"


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def check_file(path: Path) -> list[Placeholder]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    named = raw.pop("placeholders", [])
    if not isinstance(named, list) or not all(isinstance(v, str) for v in named):
        raise ConfigError(f"{path}: placeholders must be a list of strings")
    markers = (*MARKERS, *(v for v in named if v))
    return [
        Placeholder(path, where, value)
        for where, value in _strings(raw, "")
        if any(m in value for m in markers)
    ]


def check(
    dealer_file: Path, purposes_file: Path, policy_file: Path | None = None
) -> list[Placeholder]:
    found = check_file(dealer_file) + check_file(purposes_file)
    if policy_file is not None and not is_demo(dealer_file):
        found += check_file(policy_file)
    return found


def require_live(
    dealer_file: Path, purposes_file: Path, *, what: str, policy_file: Path | None = None
) -> None:
    """ConfigError naming the file and field of a placeholder, if any is left."""
    found = check(dealer_file, purposes_file, policy_file)
    if found:
        more = f"（ほか {len(found) - 1} 件）" if len(found) > 1 else ""
        raise ConfigError(
            f"{what}: 送信開始前に記入する仮の値が残っています: {found[0]}{more} — "
            "正しい値に書き換えてください (R19)"
        )
