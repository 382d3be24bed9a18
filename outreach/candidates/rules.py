"""The reminder rules of config/reminders.toml, validated at load.

A mistake is one `ConfigError` naming the file, the line and the field, e.g.
``config/reminders.toml:58: kinds.shaken.stages[2].months_before: must be an integer >= 0``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from outreach import configfile
from outreach.candidates.calendar import BusinessCalendar, add_months
from outreach.errors import ConfigError

KINDS = ("shaken", "inspection", "jibaiseki", "nini")
SUBJECTS = {"shaken": "vehicle", "inspection": "vehicle", "jibaiseki": "policy", "nini": "policy"}
CHANNELS = ("email", "post", "phone")
ENCODINGS = ("utf-8", "cp932")
_FIELD = re.compile(r"^[a-z_]+(\.[a-z_][a-z0-9_]*)+$")


@dataclass(frozen=True)
class Stage:
    name: str
    months_before: int
    days_before: int
    booking: bool
    advertising: bool
    templates: Mapping[str, str]
    # This stage's channel preference order (e.g. the store calls a month before the 車検);
    # empty: the rules' `channels`.
    channels: tuple[str, ...] = ()

    def raw_date(self, due: dt.date) -> dt.date:
        """The stage's nominal date for a due date, before any business-day move."""
        return add_months(due, -self.months_before) - dt.timedelta(days=self.days_before)


@dataclass(frozen=True)
class KindRule:
    kind: str
    label: str
    stages: tuple[Stage, ...]  # earliest stage first
    fields: tuple[str, ...]
    # Stage dates per (due date, booking opening, calendar): many subjects share a due date.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class Rules:
    version: int
    purpose: str
    category: str
    channels: tuple[str, ...]
    catch_up_max_days: int
    booking_lookback_months: int
    chunk_size: int
    calendar: BusinessCalendar
    booking_window_months: int
    post_encoding: str
    channel_fields: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, KindRule] = field(default_factory=dict)
    source: str = "reminders.toml"

    def fields_for(self, kind: str, channel: str) -> tuple[str, ...]:
        """The dotted fields a reminder of `kind` through `channel` shows (print/call columns)."""
        return self.channel_fields.get(channel, ()) + self.kinds[kind].fields


# The file's shape, validated by pydantic; `parse` turns it into Rules.


def _between(v: int, lo: int, hi: int | None) -> int:
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"must be between {lo} and {hi}, not {v}")
    return v


def _fields(v: list[str]) -> list[str]:
    for f in v:
        if not _FIELD.match(f):
            raise ValueError(f"{f!r} is not a dotted field such as customer.name_kanji")
        if f.startswith("sensitive."):
            raise ValueError(f"{f!r} is 要配慮個人情報 and can never be used (R3)")
    return v


class StageModel(configfile.Model):
    name: str
    months_before: int = 0
    days_before: int = 0
    booking: bool = False
    advertising: bool | None = None  # default: as `booking`
    templates: dict[str, str]
    channels: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v:
            raise ValueError("must be a non-empty string")
        return v

    @field_validator("months_before")
    @classmethod
    def _months(cls, v: int) -> int:
        return _between(v, 0, 24)

    @field_validator("days_before")
    @classmethod
    def _days(cls, v: int) -> int:
        return _between(v, 0, 366)


class KindModel(configfile.Model):
    label: str | None = None
    subject: str | None = None
    due_field: str | None = None  # informational: the date the kind is due on
    fields: list[str] = Field(default_factory=list)
    stages: list[StageModel]

    @field_validator("fields")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return _fields(v)

    @field_validator("stages", mode="before")
    @classmethod
    def _some(cls, v: Any) -> Any:
        if not isinstance(v, list) or not v:
            raise ValueError("at least one [[stages]] entry is required")
        return v


class BusinessDaysModel(configfile.Model):
    weekends: list[int] = Field(default_factory=lambda: [6, 7])
    national_holidays: bool = True

    @field_validator("weekends")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if not all(1 <= d <= 7 for d in v):
            raise ValueError("must be a list of integers between 1 and 7")
        return v


class ShakenModel(configfile.Model):
    booking_window_months: int = 2
    jibaiseki_allowance_months: int | None = None  # informational (R32)

    @field_validator("booking_window_months")
    @classmethod
    def _window(cls, v: int) -> int:
        return _between(v, 0, 12)


class PostModel(configfile.Model):
    encoding: str = "utf-8"
    fields: list[str] = Field(default_factory=list)

    @field_validator("encoding")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ENCODINGS:
            raise ValueError(f"must be one of {', '.join(ENCODINGS)}")
        return v

    @field_validator("fields")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return _fields(v)


class PhoneModel(configfile.Model):
    fields: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return _fields(v)


class RemindersFile(configfile.Model):
    version: int = 1
    purpose: str
    category: str = "service"
    channels: list[str] = Field(default_factory=lambda: list(CHANNELS))
    catch_up_max_days: int = 31
    booking_lookback_months: int = 6
    chunk_size: int = 2000
    business_days: BusinessDaysModel = Field(default_factory=BusinessDaysModel)
    shaken: ShakenModel = Field(default_factory=ShakenModel)
    post: PostModel = Field(default_factory=PostModel)
    phone: PhoneModel = Field(default_factory=PhoneModel)
    kinds: dict[str, KindModel]

    @field_validator("version", "catch_up_max_days", "booking_lookback_months", "chunk_size")
    @classmethod
    def _ranges(cls, v: int, info: ValidationInfo) -> int:
        lo, hi = {
            "version": (1, None),
            "catch_up_max_days": (1, 366),
            "booking_lookback_months": (0, None),
            "chunk_size": (1, 100_000),
        }[str(info.field_name)]
        return _between(v, lo, hi)

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        for c in v:
            if c not in CHANNELS:
                raise ValueError(f"unknown channel {c!r} (known: {', '.join(CHANNELS)})")
        if len(set(v)) != len(v) or not v:
            raise ValueError("must list each channel at most once, and at least one")
        return v

    @field_validator("kinds", mode="before")
    @classmethod
    def _kinds(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for kind in v:
                if kind not in KINDS:
                    raise configfile.Problem(
                        ["kinds", kind], f"unknown reminder kind (known: {', '.join(KINDS)})"
                    )
        return v

    @model_validator(mode="after")
    def _stages(self) -> Self:
        window = self.shaken.booking_window_months
        for kind, body in self.kinds.items():
            names: set[str] = set()
            for i, s in enumerate(body.stages):
                p: list[configfile.Key] = ["kinds", kind, "stages", i]
                late = s.months_before > window or (s.months_before == window and s.days_before)
                if kind == "shaken" and s.booking and late:
                    raise configfile.Problem(
                        [*p, "months_before"],
                        f"a booking stage cannot start before the {window}-month inspection "
                        "window opens (R31): set booking = false for an advance notice",
                    )
                for c in self.channels:
                    if not s.templates.get(c):
                        raise configfile.Problem(
                            [*p, "templates", c], "a template name is required for every channel"
                        )
                if any(c not in self.channels for c in s.channels) or len(set(s.channels)) != len(
                    s.channels
                ):
                    raise configfile.Problem(
                        [*p, "channels"],
                        f"must list channels of {', '.join(self.channels)}, each once",
                    )
                if s.name in names:
                    raise configfile.Problem([*p, "name"], f"duplicate stage name {s.name!r}")
                names.add(s.name)
            if body.subject is not None and body.subject != SUBJECTS[kind]:
                raise configfile.Problem(
                    ["kinds", kind, "subject"], f"must be {SUBJECTS[kind]!r} for {kind}"
                )
        return self


def load(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read reminder rules: {e.strerror}") from e
    doc = configfile.parse(path, text)
    return parse(doc.data, doc)


def parse(data: Mapping[str, Any], where: configfile.Document | None = None) -> Rules:
    """Validate the rules' data; `where` (the parsed file) lets errors name the line."""
    doc = where or configfile.Document(Path("reminders.toml"), dict(data), ())
    f = configfile.validate(doc, RemindersFile, data)
    channels = tuple(f.channels)
    kinds = {kind: _kind(doc, kind, body, channels) for kind, body in f.kinds.items()}
    return Rules(
        version=f.version,
        purpose=f.purpose,
        category=f.category,
        channels=channels,
        catch_up_max_days=f.catch_up_max_days,
        booking_lookback_months=f.booking_lookback_months,
        chunk_size=f.chunk_size,
        calendar=BusinessCalendar(
            weekends=frozenset(f.business_days.weekends),
            national_holidays=f.business_days.national_holidays,
        ),
        booking_window_months=f.shaken.booking_window_months,
        post_encoding=f.post.encoding,
        channel_fields={
            "email": (),
            "post": tuple(f.post.fields),
            "phone": tuple(f.phone.fields),
        },
        kinds=kinds,
        source=str(doc.path),
    )


def _kind(
    doc: configfile.Document, kind: str, body: KindModel, channels: tuple[str, ...]
) -> KindRule:
    stages = [
        Stage(
            name=s.name,
            months_before=s.months_before,
            days_before=s.days_before,
            booking=s.booking,
            advertising=s.booking if s.advertising is None else s.advertising,
            templates={c: s.templates[c] for c in channels},
            channels=tuple(s.channels),
        )
        for s in body.stages
    ]
    # Earliest first: a larger lead is earlier. Compare on a fixed reference due date.
    ref = dt.date(2001, 1, 31)
    stages.sort(key=lambda st: st.raw_date(ref))
    dates = [st.raw_date(ref) for st in stages]
    if len(set(dates)) != len(dates):
        raise doc.error(["kinds", kind, "stages"], "two stages have the same lead time")
    return KindRule(
        kind=kind,
        label=body.label or kind,
        stages=tuple(stages),
        fields=tuple(body.fields),
    )
