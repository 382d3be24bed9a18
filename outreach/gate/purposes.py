"""The purpose registry (config/purposes.toml): purposes, data items, policy versions, joint use.

Transcribed from the dealer's privacy policy. `load(path)` validates the whole file; any
problem is one ConfigError naming the file, the line and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach.errors import ConfigError, NotFound
from outreach.gate import tomlfile

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


def _field_index(items: Mapping[str, Item]) -> dict[tuple[str, str], str]:
    idx: dict[tuple[str, str], str] = {}
    for item in items.values():
        for f in item.fields:
            top, attr = f.split(".", 1)
            idx[(top, attr)] = item.id
    return idx


def load(path: Path) -> Registry:
    """Read and validate config/purposes.toml."""
    doc = tomlfile.read(path)
    d = doc.data

    policy = doc.table(d, ["policy"])
    version = doc.get(policy, ["policy", "version"], int)
    name = doc.get(policy, ["policy", "name"], str)

    versions: dict[int, Version] = {}
    for key, v in doc.table(d, ["versions"]).items():
        where = ["versions", key]
        if not key.isdigit():
            raise doc.error(where, "version keys must be integers")
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        published = v.get("published_on")
        if published is not None and not isinstance(published, dt.date):
            raise doc.error([*where, "published_on"], "must be a date (YYYY-MM-DD)")
        versions[int(key)] = Version(
            number=int(key),
            published_on=published,
            notified=doc.get(v, [*where, "notified"], str, "published"),
            note=doc.get(v, [*where, "note"], str, ""),
        )
    if version not in versions:
        raise doc.error(["policy", "version"], f"version {version} has no [versions.{version}]")

    insurers: dict[str, str] = {}
    for key, v in doc.table(d, ["insurers"], required=False).items():
        if not isinstance(v, dict):
            raise doc.error(["insurers", key], "must be a table")
        insurers[key] = doc.get(v, ["insurers", key, "name"], str)

    items = _load_items(doc)
    joint = _load_joint_use(doc, versions)
    purposes = _load_purposes(doc, items, versions, insurers)

    for jp in joint.purposes:
        if jp.purpose not in purposes:
            raise doc.error(
                ["joint_use", "purposes", jp.mark, "purpose"], f"unknown purpose {jp.purpose!r}"
            )
    for jp in joint.purposes:
        unknown = sorted((jp.topics or frozenset()) - set(purposes[jp.purpose].topics))
        if unknown:
            raise doc.error(
                ["joint_use", "purposes", jp.mark, "topics"],
                f"topic {unknown[0]!r} is not a topic of {jp.purpose}",
            )
    for g in joint.groups:
        if g.since_version not in versions:
            raise doc.error(["joint_use", "groups", g.id, "since_version"], "no such version")
    for item in items.values():
        if item.joint_use is not None and item.joint_use not in joint.items:
            raise doc.error(
                ["items", item.id, "joint_use"], f"unknown joint-use item {item.joint_use!r}"
            )

    return Registry(
        path=path,
        name=name,
        version=version,
        purposes=purposes,
        items=items,
        versions=versions,
        joint_use=joint,
        insurers=insurers,
        field_index=_field_index(items),
        contact_phone=doc.get(policy, ["policy", "contact_phone"], str, ""),
        url=doc.get(policy, ["policy", "url"], str, ""),
        interpretations=_load_interpretations(doc),
        legal=_load_legal(doc, items),
    )


LEGAL_CATEGORY = "legal_obligation"


def _load_legal(doc: tomlfile.Document, items: Mapping[str, Item]) -> dict[str, Purpose]:
    """[legal.<id>]: a notice the law requires (法令に基づく場合), e.g. the notice to the
    people affected by a leak (APPI Art. 26(2)). Not part of the published purposes."""
    out: dict[str, Purpose] = {}
    for key, v in doc.table(doc.data, ["legal"], required=False).items():
        where = ["legal", key]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        channels = doc.strings(v, [*where, "channels"])
        bad = sorted(set(channels) - CHANNELS)
        if bad:
            raise doc.error([*where, "channels"], f"unknown channel {bad[0]!r}")
        its = doc.strings(v, [*where, "items"])
        for i in its:
            if i not in items or items[i].sensitive:
                raise doc.error([*where, "items"], f"unknown or sensitive item {i!r}")
        if key in doc.table(doc.data, ["purposes"]):
            raise doc.error(where, "a legal notice id must differ from every purpose id")
        out[key] = Purpose(
            id=key,
            number="",
            text=doc.get(v, [*where, "text"], str),
            category=LEGAL_CATEGORY,
            channels=frozenset(channels),
            items=frozenset(its),
            since_version=0,
            label=doc.get(v, [*where, "label"], str, key),
        )
    return out


def _load_interpretations(doc: tomlfile.Document) -> dict[str, Interpretation]:
    out: dict[str, Interpretation] = {}
    for key, v in doc.table(doc.data, ["interpretations"], required=False).items():
        where = ["interpretations", key]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        out[key] = Interpretation(
            id=key,
            text=doc.get(v, [*where, "text"], str),
            quote=doc.get(v, [*where, "quote"], str),
            confirmed=doc.get(v, [*where, "confirmed"], bool, False),
        )
    return out


def _load_items(doc: tomlfile.Document) -> dict[str, Item]:
    items: dict[str, Item] = {}
    seen: dict[str, str] = {}
    for key, v in doc.table(doc.data, ["items"]).items():
        where = ["items", key]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        fields = doc.strings(v, [*where, "fields"])
        for f in fields:
            top, _, attr = f.partition(".")
            if top not in PERSONAL or not attr or "." in attr:
                raise doc.error(
                    [*where, "fields"],
                    f"field {f!r} must be <{'|'.join(sorted(PERSONAL))}>.<attribute>",
                )
            if f in seen:
                raise doc.error([*where, "fields"], f"field {f!r} is already in item {seen[f]!r}")
            seen[f] = key
        items[key] = Item(
            id=key,
            label=doc.get(v, [*where, "label"], str),
            fields=tuple(fields),
            joint_use=v.get("joint_use") and doc.get(v, [*where, "joint_use"], str),
            sensitive=doc.get(v, [*where, "sensitive"], bool, False),
            insurer_partitioned=doc.get(v, [*where, "insurer_partitioned"], bool, False),
        )
    return items


def _load_purposes(
    doc: tomlfile.Document,
    items: Mapping[str, Item],
    versions: Mapping[int, Version],
    insurers: Mapping[str, str],
) -> dict[str, Purpose]:
    purposes: dict[str, Purpose] = {}
    for key, v in doc.table(doc.data, ["purposes"]).items():
        where = ["purposes", key]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        category = doc.get(v, [*where, "category"], str)
        if category not in CATEGORIES:
            raise doc.error(
                [*where, "category"],
                f"unknown category {category!r} (one of {', '.join(sorted(CATEGORIES))})",
            )
        channels = doc.strings(v, [*where, "channels"])
        for c in channels:
            if c not in CHANNELS:
                raise doc.error(
                    [*where, "channels"],
                    f"unknown channel {c!r} (one of {', '.join(sorted(CHANNELS))})",
                )
        its = doc.strings(v, [*where, "items"])
        for i in its:
            if i not in items:
                raise doc.error([*where, "items"], f"unknown data item {i!r}")
            if items[i].sensitive:
                raise doc.error([*where, "items"], f"sensitive item {i!r} cannot be allowed (R3)")
        since = doc.get(v, [*where, "since_version"], int)
        if since not in versions:
            raise doc.error([*where, "since_version"], f"no [versions.{since}]")
        ins = doc.strings(v, [*where, "insurers"], default=[])
        for i in ins:
            if i not in insurers:
                raise doc.error([*where, "insurers"], f"unknown insurer {i!r}")
        text = doc.get(v, [*where, "text"], str)
        if not text.strip():
            raise doc.error([*where, "text"], "must not be empty")
        topics = doc.table(v, [*where, "topics"], required=False)
        for t, words in topics.items():
            if not isinstance(words, str):
                raise doc.error([*where, "topics", t], "must be a string")
        per_insurer = doc.get(v, [*where, "per_insurer"], bool, False)
        if per_insurer and not ins:
            raise doc.error([*where, "per_insurer"], "needs the insurers it is partitioned by")
        purposes[key] = Purpose(
            id=key,
            number=doc.get(v, [*where, "number"], str),
            text=text,
            category=category,
            channels=frozenset(channels),
            items=frozenset(its),
            since_version=since,
            reasonably_related=doc.get(v, [*where, "reasonably_related"], bool, True),
            insurers=tuple(ins),
            advertising=doc.get(v, [*where, "advertising"], bool, False),
            per_insurer=per_insurer,
            topics=dict(topics),
        )
    if not purposes:
        raise doc.error(["purposes"], "no purposes defined")
    return purposes


def _load_joint_use(doc: tomlfile.Document, versions: Mapping[int, Version]) -> JointUse:
    j = doc.table(doc.data, ["joint_use"])
    w = ["joint_use"]
    marks = doc.table(j, [*w, "items"])
    for mark, label in marks.items():
        if not isinstance(label, str):
            raise doc.error([*w, "items", mark], "must be a string")
    jp: list[JointUsePurpose] = []
    for mark, v in doc.table(j, [*w, "purposes"]).items():
        where = [*w, "purposes", mark]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        topics = doc.strings(v, [*where, "topics"]) if "topics" in v else None
        jp.append(
            JointUsePurpose(
                mark=mark,
                text=doc.get(v, [*where, "text"], str),
                purpose=doc.get(v, [*where, "purpose"], str),
                topics=frozenset(topics) if topics is not None else None,
            )
        )
    groups: list[JointUseGroup] = []
    for gid, v in doc.table(j, [*w, "groups"]).items():
        where = [*w, "groups", gid]
        if not isinstance(v, dict):
            raise doc.error(where, "must be a table")
        members = doc.strings(v, [*where, "members"])
        if not members:
            raise doc.error([*where, "members"], "must name at least one company")
        source = doc.get(v, [*where, "source"], str, "") or None
        groups.append(
            JointUseGroup(
                id=gid,
                label=doc.get(v, [*where, "label"], str),
                members=tuple(members),
                source=source,
                since_version=doc.get(v, [*where, "since_version"], int, 1),
                note=doc.get(v, [*where, "note"], str, ""),
            )
        )
    since = doc.get(j, [*w, "since_version"], int)
    if since not in versions:
        raise doc.error([*w, "since_version"], f"no [versions.{since}]")
    fields: dict[str, Any] = {}
    for k in ("responsible_name", "responsible_address", "responsible_representative"):
        value = doc.get(j, [*w, k], str)
        if not value.strip():
            raise doc.error([*w, k], "must not be empty (R4)")
        fields[k] = value
    return JointUse(
        since_version=since,
        items=dict(marks),
        purposes=tuple(jp),
        groups=tuple(groups),
        **fields,
    )
