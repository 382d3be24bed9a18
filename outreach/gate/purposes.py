"""The purpose registry (config/purposes.toml): purposes, data items, policy versions, joint use.

Transcribed from the dealer's privacy policy. `load(path)` validates the whole file against
the pydantic models of `gate.purposes_file`; any problem is one ConfigError naming the file,
the line and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from outreach.errors import ConfigError, NotFound

CHANNELS = frozenset({"email", "post", "phone", "visit", "sms"})
CATEGORIES = frozenset(
    {
        "notified",
        "service_notice",
        "marketing",
        "survey",
        "credit",
        "inquiry",
        "connected_services",
        "insurance_agency",
    }
)
# Top-level template variables that carry personal data, and those that carry none.
PERSONAL = frozenset({"customer", "vehicle", "policy", "sensitive"})
NON_PERSONAL = frozenset({"dealer", "store", "campaign", "message"})


@dataclass(frozen=True, slots=True)
class Purpose:
    id: str
    number: str  # "(3)" as printed in the policy
    text: str
    category: str
    channels: frozenset[str]
    items: frozenset[str]
    since_version: int
    reasonably_related: bool = True  # R2: may apply to earlier notices once published
    insurers: tuple[str, ...] = ()
    advertising: bool = False  # every email under it is advertising (a proposal, R14)
    per_insurer: bool = False  # partitioned per insurer: a request names one of `insurers` (R6)
    topics: Mapping[str, str] = field(default_factory=dict)  # topic id → the policy's words
    label: str = ""  # a short name ([legal] notices: for reports)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    label: str
    fields: tuple[str, ...]
    joint_use: str | None = None  # the joint-use item ①–⑧ it falls under, if any
    sensitive: bool = False
    insurer_partitioned: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    published_on: dt.date | None
    notified: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class JointUsePurpose:
    mark: str
    text: str
    purpose: str
    topics: frozenset[str] | None = None  # None: every topic of `purpose`

    def covers(self, purpose: str, topic: str | None) -> bool:
        return purpose == self.purpose and (self.topics is None or topic in self.topics)


@dataclass(frozen=True, slots=True)
class JointUseGroup:
    id: str
    label: str
    members: tuple[str, ...]
    source: str | None = None  # the group covers only data with this acquisition source
    since_version: int = 1  # the policy version that first named the group (R2, R4)
    note: str = ""

    def names(self, partner: str) -> bool:
        return partner == self.id or partner in self.members

    def covers(self, partner: str | None, source: str | None) -> bool:
        """Whether data from `partner`, obtained via `source`, lies in this joint use."""
        return (
            partner is not None
            and self.names(partner)
            and (self.source is None or self.source == source)
        )


@dataclass(frozen=True, slots=True)
class Interpretation:
    """A reading of the policy text that the gate applies (see purposes.toml)."""

    id: str
    text: str
    quote: str
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class JointUse:
    since_version: int
    responsible_name: str
    responsible_address: str
    responsible_representative: str
    items: Mapping[str, str]  # ① → label
    purposes: tuple[JointUsePurpose, ...]
    groups: tuple[JointUseGroup, ...]

    @property
    def purpose_ids(self) -> frozenset[str]:
        return frozenset(p.purpose for p in self.purposes)

    def in_scope(self, partner: str | None, source: str | None = None) -> bool:
        """Whether data from a joint-use partner (group id or company name), obtained via
        `source`, lies in a joint use the policy names: a group limited to one source
        (LEXUS TOKYO) covers only data obtained via that source."""
        return any(g.covers(partner, source) for g in self.groups)

    def covers_purpose(self, purpose: str, topic: str | None) -> bool:
        return any(p.covers(purpose, topic) for p in self.purposes)

    def group(self, gid: str) -> JointUseGroup:
        for g in self.groups:
            if g.id == gid:
                return g
        raise NotFound(
            f"unknown joint-use group {gid!r} (one of {', '.join(g.id for g in self.groups)})"
        )


@dataclass(frozen=True)
class Registry:
    path: Path
    name: str
    version: int
    purposes: Mapping[str, Purpose]
    items: Mapping[str, Item]
    versions: Mapping[int, Version]
    joint_use: JointUse
    insurers: Mapping[str, str]  # id → company name
    field_index: Mapping[tuple[str, str], str]  # (variable, attribute) → item id
    contact_phone: str = ""
    url: str = ""
    interpretations: Mapping[str, Interpretation] = field(default_factory=dict)
    # Notices the law requires ([legal] in purposes.toml): no purpose of the policy, never
    # advertising; the gate decides them under a legal-obligation basis (gate.rules).
    legal: Mapping[str, Purpose] = field(default_factory=dict)

    def purpose(self, purpose_id: str) -> Purpose:
        try:
            return self.purposes[purpose_id]
        except KeyError:
            raise NotFound(f"unknown purpose {purpose_id!r} (not in {self.path})") from None

    @property
    def joint_use_items(self) -> frozenset[str]:
        """Our item ids that fall under a joint-use item ①–⑧."""
        return frozenset(i.id for i in self.items.values() if i.joint_use)

    @property
    def sensitive_items(self) -> frozenset[str]:
        return frozenset(i.id for i in self.items.values() if i.sensitive)

    def field_items(self, field: str) -> frozenset[str]:
        """The items one dotted field covers; ConfigError naming an unknown field."""
        parts = field.split(".")
        top = parts[0]
        if top in NON_PERSONAL:
            return frozenset()
        if top not in PERSONAL:
            raise ConfigError(
                f"unknown data field {field!r}: templates may use only "
                f"{', '.join(sorted(PERSONAL | NON_PERSONAL))} (see {self.path})"
            )
        index = self.field_index
        if len(parts) == 1:  # the whole object: every item that covers any of its fields
            found = frozenset(i for (t, _), i in index.items() if t == top)
            return found
        hit = index.get((top, parts[1])) or index.get((top, "*"))
        if hit is None:
            raise ConfigError(f"unknown data field {top}.{parts[1]!r}: no item in {self.path}")
        return frozenset({hit})

    def items_for_fields(self, fields: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for f in fields:
            out |= self.field_items(f)
        return frozenset(out)

    def joint_use_marks_of_fields(self, fields: Iterable[str]) -> list[str]:
        """The joint-use items ①–⑧ the given dotted fields fall under (unknown ones: none)."""
        marks = set()
        for f in fields:
            top, _, attr = f.partition(".")
            item = self.field_index.get((top, attr))
            if item is not None and (mark := self.items[item].joint_use) is not None:
                marks.add(mark)
        return sorted(marks)

    def published_on(self, version: int) -> dt.date | None:
        v = self.versions.get(version)
        return v.published_on if v else None


LEGAL_CATEGORY = "legal_obligation"


def load(path: Path) -> Registry:
    """Read and validate config/purposes.toml."""
    from outreach.gate import purposes_file

    return purposes_file.load(path)
