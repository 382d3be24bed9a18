"""`outreach demo-data`: deterministic synthetic dealer data that exercises every gate branch.

Same seed, same `today` and an empty database → the same rows. The data streams: customers are
made and written `batch_size` at a time (one transaction per batch, batched multi-row inserts),
with ids assigned here in order so child rows reference them without a round trip; nothing but
the current batch is held in memory.

Consent states are written the only consistent way: each customer's events are made first,
hash-chained with `gate.ledger.event_hash`, and the preferences on the customer record are
`gate.ledger.derive(events)`, so `outreach consent verify` passes on demo data.

What the mix exercises (per customer, independently drawn): no email; every email basis
(opt_in, written, transaction, published) and none; hard-bounced addresses (suppressions);
deceased and closed customers; joint-use data from partners in and out of the policy's scope;
a privacy notice older than the current one, some with consent to the newer purpose; opt-outs
of every scope kind (all, category, channel, purpose, kind) including withdrawn ones;
cessation of use (利用停止) and its lifting; insurer-share consent; sensitive records (with
consent); vehicles sold, scrapped, leased or on credit; policies of every insurer, some held
as the insurer's processor, some 自賠責 ending before the 車検 (a cover gap). A share of
vehicles and policies falls due within ~3 months of `today` so the daily run has work.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import json
import operator
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, Boolean, Date, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outreach.candidates.calendar import add_months
from outreach.clock import JST
from outreach.db import models
from outreach.gate import ledger
from outreach.records import demo_lists as L

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


class Generator:
    """Makes batches of rows for customers start.ids['customers'], … in order. Pure."""

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

    def batch(self, count: int) -> Batch:
        out: Batch = {name: [] for name, _ in TABLES}
        for _ in range(count):
            self._customer(out)
        return out

    def batches(self, customers: int, batch_size: int) -> Iterator[Batch]:
        done = 0
        while done < customers:
            n = min(batch_size, customers - done)
            yield self.batch(n)
            done += n

    # --- one customer --------------------------------------------------------------------

    def _day_between(self, a: dt.date, b: dt.date) -> dt.date:
        return a + dt.timedelta(days=self._int(0, max(0, (b - a).days)))

    def _moment(self, a: dt.date, b: dt.date) -> dt.datetime:
        day = self._day_between(a, b)
        return dt.datetime.combine(day, dt.time(self._int(9, 19), self._int(0, 59)), tzinfo=JST)

    def _customer(self, out: Batch) -> None:
        rng, today = self.rng, self.today
        cid = self._id("customers")
        last = self._pick(self.last)
        first = self._pick(self.male if rng.random() < 0.6 else self.female)
        pref, city, postal_prefixes, towns, area = self._pick(L.AREAS)
        block = f"{self._int(1, 5)}丁目{self._int(1, 30)}番{self._int(1, 20)}号"
        address = f"{self._pick(towns)}{block}"
        if rng.random() < 0.35:
            address += f" {self._pick(L.BUILDINGS)}{self._int(1, 15)}{self._int(1, 9):02d}"
        if rng.random() < 0.7:
            phone = f"0{self._pick('789')}0-{self._int(1000, 9999)}-{self._int(0, 9999):04d}"
        else:
            rest = 10 - len(area)
            local = f"{self._int(10 ** (rest - 1), 10**rest - 1)}"
            phone = f"{area}-{local[:-4]}-{local[-4:]}"
        email = None
        if rng.random() < 0.88:
            local_part = f"{last[2]}.{first[2]}{cid}".lower()
            email = f"{local_part}@{MAIL_DOMAINS.draw(rng)}"
        acquired = self._day_between(add_years(today, -15), today - dt.timedelta(days=30))
        joint = rng.random() < 0.08
        notice = self.notice
        if acquired < dt.date(2022, 4, 1) and rng.random() < 0.5:  # not re-notified since
            notice = max(1, self.notice - 1)
        status = "active"
        x = rng.random()
        if x < 0.01:
            status = "deceased"
        elif x < 0.03:
            status = "closed"
        store = self._pick(self.stores) if self.stores else None
        events = self._events(cid, acquired, notice, email is not None)
        prefs = ledger.derive(events)
        chain = self._chain(events)
        name = f"{last[0]} {first[0]}"
        out["customers"].append(
            {
                "id": cid,
                "external_id": f"C{cid:07d}",
                "name_kanji": name,
                "name_kana": f"{last[1]} {first[1]}",
                "postal_code": f"{self._pick(postal_prefixes)}-{self._int(0, 9999):04d}",
                "prefecture": pref,
                "city": city,
                "address": address,
                "phone": phone,
                "email": email,
                "birth_date": self._day_between(dt.date(1938, 1, 1), dt.date(2004, 12, 31)),
                "status": status,
                "acquisition": "joint_use" if joint else "direct",
                "joint_use_partner": (
                    partner := self._pick(L.JOINT_USE_PARTNERS) if joint else None
                ),
                # the first two partners' records came via LEXUS TOKYO (in that joint use's
                # scope); the third's did not (out of scope though a LEXUS TOKYO company)
                "acquisition_source": "lexus_tokyo"
                if partner in L.JOINT_USE_PARTNERS[:2]
                else None,
                "acquired_on": acquired,
                "notice_version": notice,
                "store_id": store,
                "customer_since": acquired,
                "last_visit_on": self._day_between(acquired, today),
                "opt_outs": sorted(prefs.opt_outs),
                "use_suspended": prefs.use_suspended,
                "consents": sorted(prefs.consents),
                "ledger_seq": len(events),
                "ledger_head": chain[-1]["hash"] if chain else None,
                "created_at": self.stamp,
                "updated_at": self.stamp,
            }
        )
        out["consent_events"] += chain
        if email is not None:
            self._email_basis(out, cid, email, acquired)
            if rng.random() < 0.02:
                out["suppressions"].append(
                    {
                        "id": self._id("suppressions"),
                        "email": email,
                        "reason": "hard_bounce",
                        "detail": "550 5.1.1 user unknown",
                        "created_at": self._moment(acquired, today),
                    }
                )
        if rng.random() < 0.005:
            out["sensitive_records"].append(
                {
                    "id": self._id("sensitive_records"),
                    "customer_id": cid,
                    "field": "welcab_needs",
                    "value": self._pick(L.WELCAB_NOTES),
                    "consent_at": self._moment(acquired, today),
                    "consent_evidence": "店頭にて書面同意 (要配慮個人情報の取得に関する同意書)",
                    "recorded_by": "staff:demo",
                    "created_at": self.stamp,
                }
            )
        x = rng.random()
        n_vehicles = 0 if x < 0.1 else 1 if x < 0.75 else 2 if x < 0.95 else 3
        for _ in range(n_vehicles):
            self._vehicle(out, cid, name, store)

    def _email_basis(self, out: Batch, cid: int, email: str, acquired: dt.date) -> None:
        rng = self.rng
        basis = BASES.draw(rng)
        if not basis:
            return
        method, shown = {
            "opt_in": ("web_form", "レクサスからのお知らせをメールで受け取る (チェックは任意です)"),
            "written": ("paper_form", "ご注文書のメールアドレス欄 (広告メール送付の旨を記載)"),
            "transaction": (
                "order_contract",
                "ご成約時の取引関係 (特定電子メール法第3条第1項第3号)",
            ),
            "published": ("business_card", "名刺に記載・公表された事業用アドレス"),
        }[basis]
        out["email_bases"].append(
            {
                "id": self._id("email_bases"),
                "customer_id": cid,
                "email": email,
                "basis": basis,
                "evidence_at": self._moment(acquired, acquired + dt.timedelta(days=3)),
                "evidence_method": method,
                "evidence_text": shown,
                "evidence_ref": f"DEMO-{cid}",
                "withdrawn_at": None,
            }
        )

    def _events(
        self, cid: int, acquired: dt.date, notice: int, has_email: bool
    ) -> list[ledger.Event]:
        """This customer's consent history (unchained): every scope kind the gate knows."""
        rng, today = self.rng, self.today
        plan: list[tuple[str, str, str, str]] = []  # action, scope, source, actor
        if rng.random() < 0.10:
            plan.append(("grant", "insurer_share:dealer", "store", "staff:demo"))
        if notice < self.notice and self.new_purpose and rng.random() < 0.3:
            plan.append(("grant", f"purpose:{self.new_purpose}", "preference_page", "customer"))
        x = rng.random()
        opt_scopes = (
            (0.03, "all"),
            (0.07, "category:marketing"),
            (0.10, "channel:email"),
            (0.12, "purpose:p3"),
            (0.14, "kind:shaken"),
        )
        for bound, scope in opt_scopes:
            if x < bound:
                source = self._pick(("link", "one_click", "preference_page", "phone"))
                if not has_email and source != "phone":
                    source = "phone"
                actor = "customer" if source != "phone" else "staff:demo"
                plan.append(("opt_out", scope, source, actor))
                break
        x = rng.random()
        if x < 0.01:  # opted out, then changed their mind
            plan += [
                ("opt_out", "category:marketing", "link", "customer"),
                ("resubscribe", "category:marketing", "preference_page", "customer"),
            ]
        elif x < 0.02:
            plan.append(("cessation", "all", "phone", "staff:demo"))
        elif x < 0.025:
            plan += [
                ("cessation", "all", "store", "staff:demo"),
                ("reinstate", "all", "store", "staff:demo"),
            ]
        if not plan:
            return []
        moments = sorted(self._moment(acquired, today) for _ in plan)
        events: list[ledger.Event] = []
        prefs = ledger.Prefs()
        for (action, scope, source, actor), at in zip(plan, moments, strict=True):
            e = ledger.Event(
                customer_id=cid,
                seq=len(events) + 1,
                action=action,
                scope=scope,
                source=source,
                actor=actor,
                occurred_at=at,
                legal_basis="opt_in"
                if action == "grant" and scope.startswith("purpose:")
                else None,
                evidence={"note": "デモデータ"},
            )
            if ledger.changes(prefs, e):  # the ledger records no event that changes nothing
                events.append(e)
                prefs = ledger.apply(prefs, e)
        return events

    def _chain(self, events: list[ledger.Event]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        prev: str | None = None
        for e in events:
            h = ledger.event_hash(prev, e)
            rows.append(
                {
                    "id": self._id("consent_events"),
                    "customer_id": e.customer_id,
                    "seq": e.seq,
                    "action": e.action,
                    "scope": e.scope,
                    "legal_basis": e.legal_basis,
                    "evidence": e.evidence,
                    "source": e.source,
                    "actor": e.actor,
                    "occurred_at": e.occurred_at,
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            prev = h
        return rows

    def _vehicle(self, out: Batch, cid: int, name: str, store: int | None) -> None:
        rng, today = self.rng, self.today
        vid = self._id("vehicles")
        car = CARS.draw(rng)
        due_soon = rng.random() < 0.12
        if due_soon:  # expiry within ~100 days: work for the daily run
            target = today + dt.timedelta(days=self._int(1, 100))
            first = add_years(target, -(3 + 2 * self._int(0, 5)))
        else:
            first = self._day_between(add_years(today, -16), today - dt.timedelta(days=20))
        expiry, done = shaken_expiry(first, today - dt.timedelta(days=30))
        years = (
            today.year
            - first.year
            - (1 if add_years(first, today.year - first.year) > today else 0)
        )
        # The latest 12-month inspection (D+1y, D+2y, …) done by today, for most cars (R33).
        last_inspection = add_years(first, years) if years >= 1 and rng.random() < 0.7 else None
        booked = None
        if expiry >= today and (expiry - today).days <= 100 and rng.random() < 0.3:
            booked = self._day_between(today + dt.timedelta(days=1), expiry)
        x = rng.random()
        status = "sold" if x < 0.05 else "scrapped" if x < 0.07 else "owned"
        x = rng.random()
        if x < 0.06:
            owner_kind, owner = "lease", self._pick(L.LEASE_COMPANIES)
        elif x < 0.12:
            owner_kind, owner = "credit", self._pick(L.CREDIT_COMPANIES)
        else:
            owner_kind, owner = "user", name
        number = f"{self._int(1, 99):02d}-{self._int(0, 99):02d}"
        out["vehicles"].append(
            {
                "id": vid,
                "external_id": f"V{vid:07d}",
                "user_id": cid,
                "owner_name": owner,
                "owner_kind": owner_kind,
                "car_name": car,
                "color": self._pick(L.COLORS),
                "model_code": self._pick(self.car_codes[car]),
                "registration_number": (
                    f"{self._pick(L.PLATE_OFFICES)} {self._pick(L.PLATE_CLASSES)} "
                    f"{self._pick(L.PLATE_KANA)} {number}"
                ),
                "first_registered_on": first,
                "shaken_expiry_on": expiry,
                "last_inspection_on": last_inspection,
                "booked_on": booked,
                "status": status,
                "store_id": store,
                "updated_at": self.stamp,
            }
        )
        if status != "owned":
            return
        if rng.random() < 0.9:
            # 自賠責 runs to the next 車検 plus a month (25 or 37 months), ending at 12:00 (R32);
            # a few end before the 車検 does: the coverage-gap detector's cases.
            end = add_months(expiry, 1)
            if rng.random() < 0.03:
                end = expiry - dt.timedelta(days=self._int(5, 40))
            start = add_months(expiry, -(36 if done == 0 else 24))
            self._policy(out, cid, vid, "jibaiseki", start, end, dt.time(12, 0))
        if rng.random() < 0.6:
            if rng.random() < 0.12:
                end = today + dt.timedelta(days=self._int(1, 70))
            else:
                end = today + dt.timedelta(days=self._int(-20, 345))
            self._policy(out, cid, vid, "nini", add_years(end, -1), end, dt.time(16, 0))

    def _policy(
        self,
        out: Batch,
        cid: int,
        vid: int,
        kind: str,
        start: dt.date,
        end: dt.date,
        at: dt.time,
    ) -> None:
        pid = self._id("insurance_policies")
        out["insurance_policies"].append(
            {
                "id": pid,
                "external_id": f"P{pid:07d}",
                "vehicle_id": vid,
                "customer_id": cid,
                "insurer": INSURERS.draw(self.rng),
                "kind": kind,
                "starts_at": dt.datetime.combine(start, at, tzinfo=JST),
                "expires_at": dt.datetime.combine(end, at, tzinfo=JST),
                "expires_on": end,
                "held_as_processor": self.rng.random() < 0.1,
                "updated_at": self.stamp,
            }
        )


# --- writing --------------------------------------------------------------------------------


@dataclass
class Summary:
    seed: int
    today: dt.date
    customers: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        total = sum(self.rows.values())
        return {
            "seed": self.seed,
            "today": self.today.isoformat(),
            "customers": self.customers,
            "rows": self.rows,
            "total_rows": total,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(total / self.seconds) if self.seconds else None,
        }


async def ensure_stores(conn: AsyncConnection) -> tuple[int, ...]:
    """The demo stores (added once, by code); their ids in code order."""
    have = set((await conn.execute(select(models.Store.code))).scalars())
    new = [
        {"code": code, "name": name, "phone": phone, "address": addr, "closing_weekdays": closing}
        for code, name, phone, addr, closing in L.STORES
        if code not in have
    ]
    if new:
        await conn.execute(insert(models.Store), new)
    codes = [s[0] for s in L.STORES]
    rows = await conn.execute(
        select(models.Store.code, models.Store.id).where(models.Store.code.in_(codes))
    )
    by_code = dict(rows.all())
    return tuple(by_code[c] for c in codes)


async def start_ids(conn: AsyncConnection) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, model in TABLES:
        top = await conn.scalar(select(func.max(model.id)))
        ids[name] = int(top or 0) + 1
    return ids


async def prepare(engine: AsyncEngine) -> Start:
    async with engine.begin() as conn:
        stores = await ensure_stores(conn)
        return Start(ids=await start_ids(conn), store_ids=stores)


@functools.lru_cache(maxsize=8192)  # created_at/updated_at repeat one value per batch
def _sqlite_datetime(v: dt.datetime) -> str:
    return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(v: Any) -> str:
    return "[]" if v == [] else json.dumps(v)


def _sqlite_converter(column: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite types store a value (what they read back), without their
    per-value dispatch: the same text for dates and datetimes, JSON text, 0/1."""
    t = column.type
    if isinstance(t, models.AwareDateTime):
        return _sqlite_datetime
    if isinstance(t, JSON):
        return _sqlite_json
    if isinstance(t, Boolean):
        return int
    if isinstance(t, Date):
        return dt.date.isoformat
    return None


def _sqlite_rows(model: Any, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    table = model.__table__
    cols = list(rows[0])
    get = operator.itemgetter(*cols)
    convert = [(i, f) for i, c in enumerate(cols) if (f := _sqlite_converter(table.c[c]))]
    values: list[tuple[Any, ...]] = []
    for r in rows:
        cells = list(get(r))
        for i, f in convert:
            if cells[i] is not None:
                cells[i] = f(cells[i])
        values.append(tuple(cells))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    return sql, values


async def write(conn: AsyncConnection, batch: Batch) -> dict[str, int]:
    """Insert one batch. On SQLite the rows go to the driver as ready tuples (executemany):
    SQLAlchemy's per-value bind processing cost about 3× the insert itself (bench/demo_data.py).
    PostgreSQL takes the Core path (asyncpg's batched executemany)."""
    counts: dict[str, int] = {}
    sqlite = conn.dialect.name == "sqlite"
    for name, model in TABLES:
        rows = batch[name]
        if rows and sqlite:
            sql, values = _sqlite_rows(model, rows)
            await conn.exec_driver_sql(sql, values)
        elif rows:
            await conn.execute(insert(model), rows)
        counts[name] = len(rows)
    return counts


async def fix_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL: ids were given explicitly, so move each serial sequence past them."""
    if conn.dialect.name != "postgresql":
        return
    for name, _ in TABLES:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
            )
        )


def notice_of(config_dir: Path) -> tuple[int, str | None]:
    """The registry's current policy version and a purpose that version added (if any)."""
    from outreach.gate import purposes

    reg = purposes.load(config_dir / "purposes.toml")
    added = sorted(p.id for p in reg.purposes.values() if p.since_version == reg.version)
    return reg.version, (added[0] if added and reg.version > 1 else None)


async def load(
    engine: AsyncEngine,
    *,
    customers: int,
    seed: int,
    today: dt.date,
    batch_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
    notice_version: int = CURRENT_NOTICE,
    new_purpose: str | None = NEW_PURPOSE,
) -> Summary:
    """Generate and write `customers` customers with their records, a batch per transaction."""
    t0 = time.perf_counter()
    start = await prepare(engine)
    gen = Generator(seed, today, start, notice_version=notice_version, new_purpose=new_purpose)
    summary = Summary(seed=seed, today=today, customers=customers)
    summary.rows = {name: 0 for name, _ in TABLES}
    try:
        for batch in gen.batches(customers, batch_size):
            async with engine.begin() as conn:
                counts = await write(conn, batch)
            for k, v in counts.items():
                summary.rows[k] += v
            if progress is not None:
                progress(counts["customers"])
    finally:
        async with engine.begin() as conn:
            await fix_sequences(conn)
    summary.seconds = time.perf_counter() - t0
    return summary
