"""The dealer as mails name it: config/dealer.toml, loaded once and validated.

Templates see it as `dealer` (no personal data). The legal footer (R19) prints the sender
name, postal address and contact from here, so it is written once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from outreach.errors import ConfigError

if TYPE_CHECKING:
    from outreach.settings import Settings

STREAMS = ("reminder", "campaign")
REQUIRED = ("sender_name", "postal_code", "postal_address", "contact_phone")
DEMO_FILE = "dealer.demo.toml"  # the demo's sender, marked as such in every field


def path(settings: Settings) -> Path:
    """The dealer file in use: OUTREACH_DEALER_FILE, else config_dir/dealer.toml."""
    return settings.dealer_file or settings.config_dir / "dealer.toml"


@dataclass(frozen=True, slots=True)
class Stream:
    display_name: str  # From display name
    list_name: str  # List-Id phrase


@dataclass(frozen=True, slots=True)
class Dealer:
    sender_name: str
    postal_code: str
    postal_address: str
    contact_phone: str
    brand: str = ""
    contact_hours: str = ""
    contact_email: str = ""
    website: str = ""
    privacy_policy_url: str = ""
    streams: MappingProxyType[str, Stream] = field(default_factory=lambda: MappingProxyType({}))

    def stream(self, name: str) -> Stream:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(f"dealer.toml: no [streams.{name}]") from None

    def view(self) -> SimpleNamespace:
        """The `dealer` template variable: the scalar fields only."""
        return SimpleNamespace(**{f: getattr(self, f) for f in FIELDS})


FIELDS = frozenset(f.name for f in fields(Dealer) if f.name != "streams")


def load(path: Path) -> Dealer:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    return parse(raw, str(path))


def parse(raw: dict[str, Any], where: str = "dealer.toml") -> Dealer:
    section = raw.get("dealer")
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: missing [dealer]")
    unknown = set(section) - FIELDS
    if unknown:
        raise ConfigError(f"{where}: [dealer] unknown key {sorted(unknown)[0]!r}")
    for key, value in section.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: dealer.{key} must be a string")
    for key in REQUIRED:
        if not section.get(key, "").strip():
            raise ConfigError(f"{where}: dealer.{key} is required (R19: shown in every mail)")
    streams: dict[str, Stream] = {}
    raw_streams = raw.get("streams", {})
    for name in STREAMS:
        s = raw_streams.get(name)
        if not isinstance(s, dict):
            raise ConfigError(f"{where}: missing [streams.{name}]")
        try:
            streams[name] = Stream(
                display_name=str(s["display_name"]), list_name=str(s["list_name"])
            )
        except KeyError as e:
            raise ConfigError(f"{where}: streams.{name}.{e.args[0]} is required") from None
    return Dealer(**section, streams=MappingProxyType(streams))
