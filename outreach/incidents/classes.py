"""Which incidents must be reported and by when (R12). Pure: a few facts in, dates out."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from outreach.clock import JST
from outreach.errors import ConfigError

# The reportable classes of the PPC rules (規則7条各号), and their Japanese names.
CLASSES = {
    "sensitive": "要配慮個人情報が含まれる",
    "financial": "財産的被害が生じるおそれがある",
    "wrongful": "不正の目的によるおそれがある",
    "over_1000": "本人の数が1,000人を超える",
}


@dataclass(frozen=True, slots=True)
class Rules:
    preliminary_days: int = 3
    final_days: int = 30
    final_days_wrongful: int = 60
    people_threshold: int = 1000


@dataclass(frozen=True, slots=True)
class Assessment:
    classes: tuple[str, ...]
    reportable: bool
    preliminary_due_on: dt.date | None
    final_due_on: dt.date | None


def load(path: Path) -> Rules:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    values = {}
    for k in ("preliminary_days", "final_days", "final_days_wrongful", "people_threshold"):
        v = raw.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{path}: {k}: must be a positive integer")
        values[k] = v
    return Rules(**values)


def assess(
    rules: Rules, discovered_at: dt.datetime, classes: Iterable[str], affected: int
) -> Assessment:
    """The classes that apply (class (iv) from the count), whether it must be reported, and
    the 速報 and 確報 due dates counted from the day of discovery (JST)."""
    found = set(classes)
    unknown = found - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown incident class {sorted(unknown)[0]!r}")
    if affected > rules.people_threshold:
        found.add("over_1000")
    ordered = tuple(c for c in CLASSES if c in found)
    if not ordered:
        return Assessment((), False, None, None)
    day = discovered_at.astimezone(JST).date()
    final = rules.final_days_wrongful if "wrongful" in found else rules.final_days
    return Assessment(
        classes=ordered,
        reportable=True,
        preliminary_due_on=day + dt.timedelta(days=rules.preliminary_days),
        final_due_on=day + dt.timedelta(days=final),
    )
