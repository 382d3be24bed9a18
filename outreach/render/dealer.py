"""The dealer as mails name it: config/dealer.toml, loaded once and validated.

Templates see it as `dealer` (no personal data). The legal footer (R19) prints the sender
name, postal address and contact from here, so it is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING

from pydantic import field_validator

from outreach import configfile
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


# The file's shape, validated by pydantic; `load` turns it into a Dealer.


class DealerModel(configfile.Model):
    sender_name: str
    postal_code: str
    postal_address: str
    contact_phone: str
    brand: str = ""
    contact_hours: str = ""
    contact_email: str = ""
    website: str = ""
    privacy_policy_url: str = ""

    @field_validator(*REQUIRED)
    @classmethod
    def _shown(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is required (R19: shown in every mail)")
        return v


class StreamModel(configfile.Model):
    display_name: str
    list_name: str


class DealerFile(configfile.Model):
    dealer: DealerModel
    streams: dict[str, StreamModel]

    @field_validator("streams")
    @classmethod
    def _every_stream(cls, v: dict[str, StreamModel]) -> dict[str, StreamModel]:
        for name in STREAMS:
            if name not in v:
                raise configfile.Problem(["streams", name], "missing (required)")
        return v


def load(path: Path) -> Dealer:
    """Read and validate the dealer file (one ConfigError naming file, line and field)."""
    doc = configfile.read(path)
    return from_model(configfile.validate(doc, DealerFile))


def from_model(f: DealerFile) -> Dealer:
    streams = {
        name: Stream(display_name=s.display_name, list_name=s.list_name)
        for name, s in f.streams.items()
    }
    return Dealer(**f.dealer.model_dump(), streams=MappingProxyType(streams))
