"""The synthetic data generator (pure part): determinism, dates, and consent consistency."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from outreach import demo as demo_data
from outreach.demo import Generator, Start
from outreach.gate import ledger

TODAY = dt.date(2026, 1, 5)
START = Start(ids={name: 1 for name, _ in demo_data.TABLES}, store_ids=(1, 2, 3))


def _make(seed: int, n: int, batch: int = 500) -> list[demo_data.Batch]:
    return list(Generator(seed, TODAY, START).batches(n, batch))


def _flat(batches: list[demo_data.Batch], table: str) -> list[dict[str, object]]:
    return [row for b in batches for row in b[table]]


def test_same_seed_same_rows_whatever_the_batch_size() -> None:
    a, b = _make(3, 600, 500), _make(3, 600, 77)
    for name, _ in demo_data.TABLES:
        assert _flat(a, name) == _flat(b, name)
    assert _flat(_make(4, 600), "customers") != _flat(a, "customers")


def test_ids_are_dense_and_children_point_at_their_batch() -> None:
    batches = _make(5, 1200, 400)
    assert [c["id"] for c in _flat(batches, "customers")] == list(range(1, 1201))
    for b in batches:
        ids = {c["id"] for c in b["customers"]}
        assert {v["user_id"] for v in b["vehicles"]} <= ids
        vids = {v["id"] for v in b["vehicles"]}
        assert {p["vehicle_id"] for p in b["insurance_policies"]} <= vids


def test_every_gate_branch_is_present() -> None:
    batches = _make(1, 3000)
    customers = _flat(batches, "customers")
    opt_outs = Counter(s for c in customers for s in c["opt_outs"])  # type: ignore[attr-defined]
    for scope in ("all", "category:marketing", "channel:email", "purpose:p3", "kind:shaken"):
        assert opt_outs[scope] > 0, scope
    assert any(c["use_suspended"] for c in customers)
    assert {c["status"] for c in customers} == {"active", "deceased", "closed"}
    partners = {c["joint_use_partner"] for c in customers if c["acquisition"] == "joint_use"}
    assert "トヨタモビリティ東京株式会社" in partners and "株式会社サンプル自動車販売" in partners
    assert any(c["email"] is None for c in customers)
    assert {c["notice_version"] for c in customers} == {1, 2}
    consents = {s for c in customers for s in c["consents"]}  # type: ignore[attr-defined]
    assert {"insurer_share:dealer", "purpose:p7"} <= consents
    # records via LEXUS TOKYO carry that source, and one partner's records do not
    sources = {(c["joint_use_partner"], c["acquisition_source"]) for c in customers}
    assert ("トヨタモビリティ東京株式会社", "lexus_tokyo") in sources
    assert ("レクサス小石川販売株式会社", None) in sources
    bases = {b["basis"] for b in _flat(batches, "email_bases")}
    assert bases == {"opt_in", "written", "transaction", "published"}
    with_basis = {b["customer_id"] for b in _flat(batches, "email_bases")}
    assert any(c["email"] and c["id"] not in with_basis for c in customers)
    assert _flat(batches, "suppressions") and _flat(batches, "sensitive_records")
    vehicles = _flat(batches, "vehicles")
    assert {v["status"] for v in vehicles} == {"owned", "sold", "scrapped"}
    assert {v["owner_kind"] for v in vehicles} == {"user", "lease", "credit"}
    assert {v["car_name"] for v in vehicles} >= {"LS", "RX", "NX", "LBX", "LM"}
    policies = _flat(batches, "insurance_policies")
    # only the insurers the privacy policy names for (8): the import refuses any other
    assert {p["insurer"] for p in policies} == {
        "tokio_marine", "aioi_nissay_dowa", "mitsui_sumitomo"
    }  # fmt: skip
    assert any(p["held_as_processor"] for p in policies)
    names = {c["name_kanji"].split()[0] for c in customers}  # type: ignore[attr-defined]
    assert {"髙橋", "山﨑"} <= names


def test_some_work_falls_due_in_the_coming_weeks() -> None:
    batches = _make(2, 1000)
    soon = TODAY + dt.timedelta(days=60)
    due = [v for v in _flat(batches, "vehicles") if TODAY <= v["shaken_expiry_on"] <= soon]  # type: ignore[operator]
    assert len(due) > 20
    nini = [
        p for p in _flat(batches, "insurance_policies")
        if p["kind"] == "nini" and TODAY <= p["expires_on"] <= soon  # type: ignore[operator]
    ]  # fmt: skip
    assert len(nini) > 20


def test_shaken_follows_three_then_two_years_and_policy_end_times() -> None:
    for v in _flat(_make(6, 800), "vehicles"):
        first, expiry = v["first_registered_on"], v["shaken_expiry_on"]
        assert isinstance(first, dt.date) and isinstance(expiry, dt.date)
        years = expiry.year - first.year
        assert years >= 3 and years % 2 == 1
        assert demo_data.add_years(first, years) == expiry
    for p in _flat(_make(6, 800), "insurance_policies"):
        local = p["expires_at"].astimezone(demo_data.JST)  # type: ignore[attr-defined]
        assert local.date() == p["expires_on"]
        assert local.hour == (12 if p["kind"] == "jibaiseki" else 16)


def test_record_preferences_equal_the_chained_ledger() -> None:
    batches = _make(9, 2000)
    events_by_customer: dict[int, list[dict[str, object]]] = {}
    for e in _flat(batches, "consent_events"):
        events_by_customer.setdefault(e["customer_id"], []).append(e)  # type: ignore[arg-type]
    assert events_by_customer
    for c in _flat(batches, "customers"):
        rows = events_by_customer.get(c["id"], [])  # type: ignore[call-overload]
        events = [
            ledger.Event(**{k: r[k] for k in (
                "customer_id", "seq", "action", "scope", "source", "actor", "occurred_at",
                "legal_basis", "evidence")})
            for r in rows
        ]  # fmt: skip
        prefs = ledger.derive(events)
        assert sorted(prefs.opt_outs) == c["opt_outs"]
        assert prefs.use_suspended == c["use_suspended"]
        assert sorted(prefs.consents) == c["consents"]
        assert c["ledger_seq"] == len(events)
        prev = None
        for r, event in zip(rows, events, strict=True):
            assert r["prev_hash"] == prev
            assert r["hash"] == ledger.event_hash(prev, event)
            prev = r["hash"]
        assert c["ledger_head"] == prev


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2040, 12, 31)))  # fmt: skip
def test_shaken_expiry_is_the_first_cycle_on_or_after(first: dt.date, on: dt.date) -> None:
    expiry, n = demo_data.shaken_expiry(first, on)
    assert expiry == demo_data.add_years(first, 3 + 2 * n)
    assert expiry >= on
    if n > 0:
        assert demo_data.add_years(first, 3 + 2 * (n - 1)) < on


@given(st.dates(), st.integers(min_value=-400, max_value=400))
def test_add_months_clamps_to_month_end(d: dt.date, months: int) -> None:
    try:
        r = demo_data.add_months(d, months)
    except ValueError:
        return  # out of the calendar's range
    assert (r.year * 12 + r.month) - (d.year * 12 + d.month) == months
    assert r.day == d.day or (r.day < d.day and (r + dt.timedelta(days=1)).day == 1)
