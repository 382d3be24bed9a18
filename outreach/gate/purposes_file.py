"""The shape of config/purposes.toml as pydantic models, and its reading into a `Registry`.

Each model checks what one table can check alone (types, known channels and categories, no
empty text); `PurposesFile` checks the references across tables (a purpose's items and
versions, the joint use's purposes and topics). Any problem is one ConfigError naming the
file, the line and the field (`outreach.configfile`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from outreach import configfile
from outreach.gate.purposes import (
    CATEGORIES,
    CHANNELS,
    LEGAL_CATEGORY,
    PERSONAL,
    Interpretation,
    Item,
    JointUse,
    JointUseGroup,
    JointUsePurpose,
    Purpose,
    Registry,
    Version,
)

Problem = configfile.Problem


def _not_empty(v: str, problem: str = "must not be empty") -> str:
    if not v.strip():
        raise ValueError(problem)
    return v


class PolicyModel(configfile.Model):
    version: int
    name: str
    contact_phone: str = ""
    url: str = ""


class VersionModel(configfile.Model):
    published_on: dt.date | None = None
    notified: str = "published"
    note: str = ""


class InsurerModel(configfile.Model):
    name: str


class ItemModel(configfile.Model):
    label: str
    fields: list[str]
    joint_use: str | None = None
    sensitive: bool = False
    insurer_partitioned: bool = False

    @field_validator("fields")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        for f in v:
            top, _, attr = f.partition(".")
            if top not in PERSONAL or not attr or "." in attr:
                raise ValueError(f"field {f!r} must be <{'|'.join(sorted(PERSONAL))}>.<attribute>")
        return v


class PurposeModel(configfile.Model):
    number: str
    text: str
    category: str
    channels: list[str]
    items: list[str]
    since_version: int
    reasonably_related: bool = True
    insurers: list[str] = Field(default_factory=list)
    advertising: bool = False
    per_insurer: bool = False
    topics: dict[str, str] = Field(default_factory=dict)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        if v not in CATEGORIES:
            raise ValueError(f"unknown category {v!r} (one of {', '.join(sorted(CATEGORIES))})")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        for c in v:
            if c not in CHANNELS:
                raise ValueError(f"unknown channel {c!r} (one of {', '.join(sorted(CHANNELS))})")
        return v

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _not_empty(v)


class JointUsePurposeModel(configfile.Model):
    text: str
    purpose: str
    topics: list[str] | None = None  # None: every topic of `purpose`


class JointUseGroupModel(configfile.Model):
    label: str
    members: list[str]
    source: str = ""
    since_version: int = 1
    note: str = ""

    @field_validator("members")
    @classmethod
    def _members(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must name at least one company")
        return v


class JointUseModel(configfile.Model):
    since_version: int
    responsible_name: str
    responsible_address: str
    responsible_representative: str
    items: dict[str, str]  # ① → label
    purposes: dict[str, JointUsePurposeModel]
    groups: dict[str, JointUseGroupModel]

    @field_validator("responsible_name", "responsible_address", "responsible_representative")
    @classmethod
    def _named(cls, v: str) -> str:
        return _not_empty(v, "must not be empty (R4)")


class LegalModel(configfile.Model):
    """[legal.<id>]: a notice the law requires (法令に基づく場合), e.g. the notice to the
    people affected by a leak (APPI Art. 26(2)). Not part of the published purposes."""

    text: str
    channels: list[str]
    items: list[str]
    label: str | None = None

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - CHANNELS)
        if bad:
            raise ValueError(f"unknown channel {bad[0]!r}")
        return v


class InterpretationModel(configfile.Model):
    text: str
    quote: str
    confirmed: bool = False


class PurposesFile(configfile.Model):
    policy: PolicyModel
    versions: dict[str, VersionModel]
    insurers: dict[str, InsurerModel] = Field(default_factory=dict)
    items: dict[str, ItemModel]
    purposes: dict[str, PurposeModel]
    joint_use: JointUseModel
    interpretations: dict[str, InterpretationModel] = Field(default_factory=dict)
    legal: dict[str, LegalModel] = Field(default_factory=dict)

    @field_validator("versions", mode="before")
    @classmethod
    def _numbered(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for key in v:
                if not str(key).isdigit():
                    raise Problem(["versions", key], "version keys must be integers")
        return v

    @model_validator(mode="after")
    def _references(self) -> Self:
        versions = {int(k) for k in self.versions}
        v = self.policy.version
        if v not in versions:
            raise Problem(["policy", "version"], f"version {v} has no [versions.{v}]")
        seen: dict[str, str] = {}
        for key, item in self.items.items():
            for f in item.fields:
                if f in seen:
                    raise Problem(
                        ["items", key, "fields"], f"field {f!r} is already in item {seen[f]!r}"
                    )
                seen[f] = key
        self._check_purposes(versions)
        self._check_joint_use(versions)
        for key, notice in self.legal.items():
            for i in notice.items:
                if i not in self.items or self.items[i].sensitive:
                    raise Problem(["legal", key, "items"], f"unknown or sensitive item {i!r}")
            if key in self.purposes:
                raise Problem(["legal", key], "a legal notice id must differ from every purpose id")
        return self

    def _check_purposes(self, versions: set[int]) -> None:
        for key, p in self.purposes.items():
            where = ["purposes", key]
            for i in p.items:
                if i not in self.items:
                    raise Problem([*where, "items"], f"unknown data item {i!r}")
                if self.items[i].sensitive:
                    raise Problem([*where, "items"], f"sensitive item {i!r} cannot be allowed (R3)")
            if p.since_version not in versions:
                raise Problem([*where, "since_version"], f"no [versions.{p.since_version}]")
            for i in p.insurers:
                if i not in self.insurers:
                    raise Problem([*where, "insurers"], f"unknown insurer {i!r}")
            if p.per_insurer and not p.insurers:
                raise Problem([*where, "per_insurer"], "needs the insurers it is partitioned by")
        if not self.purposes:
            raise Problem(["purposes"], "no purposes defined")

    def _check_joint_use(self, versions: set[int]) -> None:
        j = self.joint_use
        if j.since_version not in versions:
            raise Problem(["joint_use", "since_version"], f"no [versions.{j.since_version}]")
        for mark, jp in j.purposes.items():
            where = ["joint_use", "purposes", mark]
            if jp.purpose not in self.purposes:
                raise Problem([*where, "purpose"], f"unknown purpose {jp.purpose!r}")
            unknown = sorted(set(jp.topics or ()) - set(self.purposes[jp.purpose].topics))
            if unknown:
                raise Problem(
                    [*where, "topics"], f"topic {unknown[0]!r} is not a topic of {jp.purpose}"
                )
        for gid, g in j.groups.items():
            if g.since_version not in versions:
                raise Problem(["joint_use", "groups", gid, "since_version"], "no such version")
        for key, item in self.items.items():
            if item.joint_use and item.joint_use not in j.items:
                raise Problem(
                    ["items", key, "joint_use"], f"unknown joint-use item {item.joint_use!r}"
                )


def load(path: Path) -> Registry:
    """Read and validate config/purposes.toml into the registry the gate uses."""
    return registry(path, configfile.validate(configfile.read(path), PurposesFile))


def registry(path: Path, f: PurposesFile) -> Registry:
    items = {
        key: Item(
            id=key,
            label=i.label,
            fields=tuple(i.fields),
            joint_use=i.joint_use or None,
            sensitive=i.sensitive,
            insurer_partitioned=i.insurer_partitioned,
        )
        for key, i in f.items.items()
    }
    return Registry(
        path=path,
        name=f.policy.name,
        version=f.policy.version,
        purposes={key: _purpose(key, p) for key, p in f.purposes.items()},
        items=items,
        versions={
            int(k): Version(
                number=int(k), published_on=v.published_on, notified=v.notified, note=v.note
            )
            for k, v in f.versions.items()
        },
        joint_use=_joint_use(f.joint_use),
        insurers={key: i.name for key, i in f.insurers.items()},
        field_index=_field_index(items),
        contact_phone=f.policy.contact_phone,
        url=f.policy.url,
        interpretations={
            key: Interpretation(id=key, text=i.text, quote=i.quote, confirmed=i.confirmed)
            for key, i in f.interpretations.items()
        },
        legal={
            key: Purpose(
                id=key,
                number="",
                text=n.text,
                category=LEGAL_CATEGORY,
                channels=frozenset(n.channels),
                items=frozenset(n.items),
                since_version=0,
                label=key if n.label is None else n.label,
            )
            for key, n in f.legal.items()
        },
    )


def _purpose(key: str, p: PurposeModel) -> Purpose:
    return Purpose(
        id=key,
        number=p.number,
        text=p.text,
        category=p.category,
        channels=frozenset(p.channels),
        items=frozenset(p.items),
        since_version=p.since_version,
        reasonably_related=p.reasonably_related,
        insurers=tuple(p.insurers),
        advertising=p.advertising,
        per_insurer=p.per_insurer,
        topics=dict(p.topics),
    )


def _joint_use(j: JointUseModel) -> JointUse:
    return JointUse(
        since_version=j.since_version,
        responsible_name=j.responsible_name,
        responsible_address=j.responsible_address,
        responsible_representative=j.responsible_representative,
        items=dict(j.items),
        purposes=tuple(
            JointUsePurpose(
                mark=mark,
                text=p.text,
                purpose=p.purpose,
                topics=frozenset(p.topics) if p.topics is not None else None,
            )
            for mark, p in j.purposes.items()
        ),
        groups=tuple(
            JointUseGroup(
                id=gid,
                label=g.label,
                members=tuple(g.members),
                source=g.source or None,
                since_version=g.since_version,
                note=g.note,
            )
            for gid, g in j.groups.items()
        ),
    )


def _field_index(items: Mapping[str, Item]) -> dict[tuple[str, str], str]:
    idx: dict[tuple[str, str], str] = {}
    for item in items.values():
        for f in item.fields:
            top, attr = f.split(".", 1)
            idx[(top, attr)] = item.id
    return idx
