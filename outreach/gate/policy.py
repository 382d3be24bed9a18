"""The gate policy (config/gate.toml): send windows, contact budget, advertising defaults, R6."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator

from outreach import configfile
from outreach.gate.purposes import CATEGORIES, CHANNELS


@dataclass(frozen=True, slots=True)
class Window:
    """Allowed local (Asia/Tokyo) hours [start, end) for a channel, and the days it skips."""

    start: dt.time
    end: dt.time | None  # None = midnight at the end of the day
    skip_holidays: bool = False
    skip_store_closing_days: bool = False


@dataclass(frozen=True, slots=True)
class Frequency:
    window_days: int
    max_contacts: int
    after_higher_days: int
    capped_categories: frozenset[str]
    priority: Mapping[str, int]

    def rank(self, kind: str | None, category: str) -> int:
        if kind is not None and kind in self.priority:
            return self.priority[kind]
        return self.priority.get(category, max(self.priority.values(), default=0) + 1)


@dataclass(frozen=True, slots=True)
class Policy:
    path: Path
    windows: Mapping[str, Window]
    frequency: Frequency
    email_bases: frozenset[str]
    booking_reminder_is_advertising: bool
    promotion_is_advertising: bool
    insurer_consent_scope: str
    insurer_dealer_categories: frozenset[str]

    def classify(
        self, declared: bool | None, *, invites_booking: bool = False, promotion: bool = False
    ) -> bool | None:
        """R14: a template's advertising flag. Declared wins; None stays unclassified.

        A template declared "not advertising" that invites a booking or carries a promotion
        is advertising all the same under the conservative reading.
        """
        if declared is None:
            return None
        if (invites_booking and self.booking_reminder_is_advertising) or (
            promotion and self.promotion_is_advertising
        ):
            return True
        return declared


# The file's shape (config/gate.toml), validated by pydantic; `load` turns it into a Policy.


def _time(raw: str) -> dt.time | None:
    """HH:MM; 24:00 is midnight at the end of the day (None)."""
    if raw in ("24:00", "24:00:00"):
        return None
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a time HH:MM") from None


def _known(values: list[str], known: frozenset[str], what: str) -> list[str]:
    for v in values:
        if v not in known:
            raise ValueError(f"unknown {what} {v!r}")
    return values


class WindowModel(configfile.Model):
    start: str
    end: str
    skip_holidays: bool = False
    skip_store_closing_days: bool = False

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        if _time(v) is None:
            raise ValueError("must be before 24:00")
        return v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str) -> str:
        _time(v)
        return v


class FrequencyModel(configfile.Model):
    window_days: int
    max_contacts: int
    after_higher_days: int
    capped_categories: list[str]
    priority: dict[str, int]

    @field_validator("window_days", "max_contacts", "after_higher_days")
    @classmethod
    def _not_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must not be negative")
        return v

    @field_validator("capped_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        return _known(v, CATEGORIES, "category")


class AdvertisingModel(configfile.Model):
    booking_reminder_is_advertising: bool
    promotion_is_advertising: bool
    email_bases: list[str]


class InsurerPartitionModel(configfile.Model):
    consent_scope: str
    dealer_categories: list[str]

    @field_validator("dealer_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        return _known(v, CATEGORIES, "category")


class GateFile(configfile.Model):
    windows: dict[str, WindowModel] = Field(default_factory=dict)
    frequency: FrequencyModel
    advertising: AdvertisingModel
    insurer_partition: InsurerPartitionModel

    @field_validator("windows", mode="before")
    @classmethod
    def _channels(cls, v: object) -> object:
        if isinstance(v, dict):
            for channel in v:
                if channel not in CHANNELS:
                    raise configfile.Problem(["windows", channel], f"unknown channel {channel!r}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for channel, w in self.windows.items():
            start, end = _time(w.start), _time(w.end)
            if end is not None and start is not None and end <= start:
                raise configfile.Problem(
                    ["windows", channel, "end"],
                    "must be after start (windows do not cross midnight)",
                )
        return self


def load(path: Path) -> Policy:
    """Read and validate config/gate.toml (one ConfigError naming file, line and field)."""
    doc = configfile.read(path)
    return from_model(path, configfile.validate(doc, GateFile))


def from_model(path: Path, g: GateFile) -> Policy:
    windows = {
        channel: Window(
            start=_time(w.start) or dt.time(0),
            end=_time(w.end),
            skip_holidays=w.skip_holidays,
            skip_store_closing_days=w.skip_store_closing_days,
        )
        for channel, w in g.windows.items()
    }
    f = g.frequency
    return Policy(
        path=path,
        windows=windows,
        frequency=Frequency(
            window_days=f.window_days,
            max_contacts=f.max_contacts,
            after_higher_days=f.after_higher_days,
            capped_categories=frozenset(f.capped_categories),
            priority=dict(f.priority),
        ),
        email_bases=frozenset(g.advertising.email_bases),
        booking_reminder_is_advertising=g.advertising.booking_reminder_is_advertising,
        promotion_is_advertising=g.advertising.promotion_is_advertising,
        insurer_consent_scope=g.insurer_partition.consent_scope,
        insurer_dealer_categories=frozenset(g.insurer_partition.dealer_categories),
    )
