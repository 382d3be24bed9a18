"""The gate policy (config/gate.toml): send windows, contact budget, advertising defaults, R6."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from outreach.gate import tomlfile
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


def _time(doc: tomlfile.Document, table: dict[str, object], keys: list[str]) -> dt.time | None:
    raw = doc.get(table, keys, str)
    if raw in ("24:00", "24:00:00"):
        return None
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise doc.error(keys, f"{raw!r} is not a time HH:MM") from None


def load(path: Path) -> Policy:
    doc = tomlfile.read(path)
    d = doc.data

    windows: dict[str, Window] = {}
    for channel, v in doc.table(d, ["windows"], required=False).items():
        w = ["windows", channel]
        if channel not in CHANNELS:
            raise doc.error(w, f"unknown channel {channel!r}")
        if not isinstance(v, dict):
            raise doc.error(w, "must be a table")
        start = _time(doc, v, [*w, "start"])
        end = _time(doc, v, [*w, "end"])
        if start is None:
            raise doc.error([*w, "start"], "must be before 24:00")
        if end is not None and end <= start:
            raise doc.error([*w, "end"], "must be after start (windows do not cross midnight)")
        windows[channel] = Window(
            start=start,
            end=end,
            skip_holidays=doc.get(v, [*w, "skip_holidays"], bool, False),
            skip_store_closing_days=doc.get(v, [*w, "skip_store_closing_days"], bool, False),
        )

    f = doc.table(d, ["frequency"])
    fw = ["frequency"]
    capped = doc.strings(f, [*fw, "capped_categories"])
    for c in capped:
        if c not in CATEGORIES:
            raise doc.error([*fw, "capped_categories"], f"unknown category {c!r}")
    priority: dict[str, int] = {}
    for k, rank in doc.table(f, [*fw, "priority"]).items():
        priority[k] = doc.get({k: rank}, [*fw, "priority", k], int)
    numbers = {}
    for k in ("window_days", "max_contacts", "after_higher_days"):
        n = doc.get(f, [*fw, k], int)
        if n < 0:
            raise doc.error([*fw, k], "must not be negative")
        numbers[k] = n
    frequency = Frequency(capped_categories=frozenset(capped), priority=priority, **numbers)

    a = doc.table(d, ["advertising"])
    bases = doc.strings(a, ["advertising", "email_bases"])
    ip = doc.table(d, ["insurer_partition"])
    dealer = doc.strings(ip, ["insurer_partition", "dealer_categories"])
    for c in dealer:
        if c not in CATEGORIES:
            raise doc.error(["insurer_partition", "dealer_categories"], f"unknown category {c!r}")
    return Policy(
        path=path,
        windows=windows,
        frequency=frequency,
        email_bases=frozenset(bases),
        booking_reminder_is_advertising=doc.get(
            a, ["advertising", "booking_reminder_is_advertising"], bool
        ),
        promotion_is_advertising=doc.get(a, ["advertising", "promotion_is_advertising"], bool),
        insurer_consent_scope=doc.get(ip, ["insurer_partition", "consent_scope"], str),
        insurer_dealer_categories=frozenset(dealer),
    )
