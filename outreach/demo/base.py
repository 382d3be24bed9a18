"""The demo generator's ground: tables in insert order, ids, seeded draws, date rules."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from outreach.clock import JST
from outreach.db import models
from outreach.demo import lists as L

BATCH = 5000
# Defaults matching config/purposes.toml; the CLI reads them from the registry (`notice_of`).
CURRENT_NOTICE = 2  # the current privacy-policy version
NEW_PURPOSE = "p7"  # the purpose added in that version: needs consent from older records

# Tables in insert order (parents first) and the key each batch holds their rows under.
TABLES: tuple[tuple[str, Any], ...] = (
    ("customers", models.Customer),
    ("vehicles", models.Vehicle),
    ("insurance_policies", models.InsurancePolicy),
    ("email_bases", models.EmailBasis),
    ("consent_events", models.ConsentEvent),
    ("sensitive_records", models.SensitiveRecord),
    ("suppressions", models.Suppression),
)

Batch = dict[str, list[dict[str, Any]]]
T = TypeVar("T")


def add_years(d: dt.date, years: int) -> dt.date:
    """Same day `years` later; 29 February becomes 28 February (month-end clamping, R36)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def shaken_expiry(first_registered: dt.date, on_or_after: dt.date) -> tuple[dt.date, int]:
    """The 車検 expiry in force on `on_or_after`: new car +3 years, then every 2 (R30, R33);
    with the number of inspections done since the first registration."""
    n, expiry = 0, add_years(first_registered, 3)
    while expiry < on_or_after:
        n += 1
        expiry = add_years(first_registered, 3 + 2 * n)
    return expiry, n


@dataclass(frozen=True)
class Start:
    """The first free id of each table, and the stores' ids by code."""

    ids: dict[str, int]
    store_ids: tuple[int, ...]


@dataclass(frozen=True)
class Weighted:
    """Values with integer weights, drawn with one random() call."""

    values: tuple[str, ...]
    bounds: tuple[int, ...]  # cumulative weights

    @classmethod
    def of(cls, pairs: tuple[tuple[str, int], ...]) -> Weighted:
        return cls(tuple(v for v, _ in pairs), tuple(itertools.accumulate(w for _, w in pairs)))

    def draw(self, rng: random.Random) -> str:
        return self.values[bisect.bisect_right(self.bounds, rng.random() * self.bounds[-1])]


MAIL_DOMAINS = Weighted.of(L.MAIL_DOMAINS)
INSURERS = Weighted.of(L.INSURERS)
BASES = Weighted.of(
    (("opt_in", 45), ("written", 20), ("transaction", 20), ("published", 3), ("", 12))
)
CARS = Weighted.of(tuple((name, w) for name, _, w in L.CARS))


class Draws:
    """The generator's state and its seeded draws; the makers build on it."""

    def __init__(
        self,
        seed: int,
        today: dt.date,
        start: Start,
        *,
        notice_version: int = CURRENT_NOTICE,
        new_purpose: str | None = NEW_PURPOSE,
    ) -> None:
        self.notice = notice_version
        self.new_purpose = new_purpose
        self.rng = random.Random(seed)
        self.today = today
        self.next = dict(start.ids)
        self.stores = start.store_ids
        self.stamp = dt.datetime.combine(today, dt.time(9, 0), tzinfo=JST)
        self.last, self.male, self.female = L.names()
        self.car_codes = {name: codes for name, codes, _ in L.CARS}

    # random.randint/choice cost ~1 µs each through randrange; a million customers draw tens
    # of millions of them. These use one random() call each and stay seeded.
    def _int(self, a: int, b: int) -> int:
        return a + int(self.rng.random() * (b - a + 1))

    def _pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.rng.random() * len(seq))]

    def _id(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value

    def _day_between(self, a: dt.date, b: dt.date) -> dt.date:
        return a + dt.timedelta(days=self._int(0, max(0, (b - a).days)))

    def _moment(self, a: dt.date, b: dt.date) -> dt.datetime:
        day = self._day_between(a, b)
        return dt.datetime.combine(day, dt.time(self._int(9, 19), self._int(0, 59)), tzinfo=JST)
