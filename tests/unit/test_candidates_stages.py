"""The pure reminder rules: stage dates, business days, R31 window, R33 schedule, catch-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.candidates import inspection, insurance, ranges, rules, shaken, stages
from outreach.candidates.calendar import add_months
from outreach.candidates.facts import PolicyFacts, VehicleFacts, Window
from outreach.clock import JST

REPO = Path(__file__).resolve().parents[2]
RULES = rules.load(REPO / "config" / "reminders.toml")
D = dt.date


def day_window(day: dt.date) -> Window:
    return Window(after=day - dt.timedelta(days=1), through=day)


def run_days(
    fn: Any, start: dt.date, end: dt.date, skip: AbstractSet[dt.date] = frozenset()
) -> list[tuple[dt.date, Any]]:
    """Run `fn(window)` for each day from start to end, skipping outage days (catch-up)."""
    out: list[tuple[dt.date, Any]] = []
    last = start - dt.timedelta(days=1)
    day = start
    while day <= end:
        if day not in skip:
            c = fn(Window(after=last, through=day))
            if c is not None:
                out.append((day, c))
            last = day
        day += dt.timedelta(days=1)
    return out


def test_shaken_stages_move_off_weekends_and_holidays() -> None:
    due = D(2026, 6, 30)
    got = [
        (s.name, d)
        for s, d in stages.dated(
            RULES.kinds["shaken"], due, RULES.calendar, booking_opens=shaken.window_opens(due)
        )
    ]
    # 3/30 Mon; 4/30 Thu; 5/30 is a Saturday → Monday 6/1.
    assert got == [("1", D(2026, 3, 30)), ("2", D(2026, 4, 30)), ("3", D(2026, 6, 1))]
    holiday_due = D(2026, 12, 23)  # stage 1 = 9/23 秋分の日 → 9/24
    assert stages.dated(RULES.kinds["shaken"], holiday_due, RULES.calendar)[0][1] == D(2026, 9, 24)


def test_r31_window_example_and_month_end() -> None:
    assert shaken.window_opens(D(2025, 6, 1)) == D(2025, 4, 1)
    assert shaken.window_opens(D(2026, 4, 30)) == D(2026, 2, 28)


@given(st.dates(min_value=D(2025, 4, 1), max_value=D(2040, 12, 31)))
def test_booking_stages_never_before_the_window_opens(due: dt.date) -> None:
    opens = shaken.window_opens(due)
    for stage, day in stages.dated(RULES.kinds["shaken"], due, RULES.calendar, booking_opens=opens):
        if stage.booking:
            assert day >= opens
        assert day <= due


def vehicle(**kw: Any) -> VehicleFacts:
    base: dict[str, Any] = dict(id=1, user_id=10, shaken_expiry_on=D(2026, 6, 30))
    base.update(kw)
    return VehicleFacts(**base)


def test_each_shaken_stage_once_over_daily_runs() -> None:
    v = vehicle()
    sent = run_days(lambda w: shaken.candidate(v, RULES, w), D(2026, 1, 1), D(2026, 12, 31))
    assert [(day, c.stage) for day, c in sent] == [
        (D(2026, 3, 30), "1"),
        (D(2026, 4, 30), "2"),
        (D(2026, 6, 1), "3"),
    ]
    c = sent[0][1]
    assert c.customer_id == 10 and c.due_on == D(2026, 6, 30) and not c.booking
    assert c.key("email") == "rem:shaken:vehicle:1:c10:2026-06-30:1:email"


def test_catch_up_after_an_outage_sends_only_the_latest_stage() -> None:
    custom = rules.parse(
        {
            "purpose": "p2",
            "kinds": {
                "nini": {
                    "stages": [
                        {"name": n, "days_before": d, "templates": {c: "t" for c in rules.CHANNELS}}
                        for n, d in (("a", 10), ("b", 7), ("c", 3))
                    ]
                }
            },
        }
    )
    p = PolicyFacts(id=5, kind="nini", customer_id=3, expires_on=D(2026, 7, 17))  # a Friday
    # Stages: 7/7 (Tue), 7/10 (Fri), 7/14 (Tue). Down 7/9–7/14: the 7/15 run sends only "c".
    outage = {D(2026, 7, d) for d in range(9, 15)}
    sent = run_days(
        lambda w: insurance.candidate(p, custom, w), D(2026, 7, 1), D(2026, 7, 31), outage
    )
    assert [(day, c.stage) for day, c in sent] == [(D(2026, 7, 7), "a"), (D(2026, 7, 15), "c")]
    # An outage past the due date sends nothing at all: the due date has passed.
    late = run_days(
        lambda w: insurance.candidate(p, custom, w),
        D(2026, 7, 1),
        D(2026, 7, 31),
        {D(2026, 7, d) for d in range(7, 18)},
    )
    assert late == []


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=D(2026, 1, 1), max_value=D(2030, 12, 31)),
    st.sets(st.integers(0, 200), max_size=40),
)
def test_no_stage_twice_and_stages_only_move_forward(due: dt.date, down: set[int]) -> None:
    v = vehicle(shaken_expiry_on=due)
    start = add_months(due, -5)
    outage = {start + dt.timedelta(days=i) for i in down}
    sent = run_days(
        lambda w: shaken.candidate(v, RULES, w), start, due + dt.timedelta(days=5), outage
    )
    names = [c.stage for _, c in sent]
    assert len(names) == len(set(names))
    assert names == sorted(names)
    for day, c in sent:
        assert c.stage_on <= day <= due


def test_sold_vehicles_unknown_users_and_bookings_end_the_cycle() -> None:
    w = day_window(D(2026, 4, 30))
    assert shaken.candidate(vehicle(), RULES, w) is not None
    assert shaken.candidate(vehicle(status="sold"), RULES, w) is None
    assert shaken.candidate(vehicle(user_id=None, owner_kind="lease"), RULES, w) is None
    assert shaken.candidate(vehicle(booked_on=D(2026, 6, 10)), RULES, w) is None
    # A booking from the previous cycle (two years ago) does not stop this one.
    assert shaken.candidate(vehicle(booked_on=D(2024, 6, 10)), RULES, w) is not None
    # A new expiry (the shaken was done early) starts a new cycle: nothing now.
    assert shaken.candidate(vehicle(shaken_expiry_on=D(2028, 6, 30)), RULES, w) is None


def test_lease_owner_never_receives_the_reminder() -> None:
    v = vehicle(owner_kind="lease", user_id=77)
    c = shaken.candidate(v, RULES, day_window(D(2026, 4, 30)))
    assert c is not None and c.customer_id == 77


def test_r33_schedule_for_a_new_car() -> None:
    reg = D(2026, 4, 10)
    assert inspection.schedule(reg, 5) == [
        (D(2027, 4, 10), "12m"),
        (D(2028, 4, 10), "24m"),
        (D(2029, 4, 10), "shaken"),
        (D(2030, 4, 10), "12m"),
        (D(2031, 4, 10), "shaken"),
    ]


def test_inspection_reminders_follow_the_r33_schedule() -> None:
    reg = D(2026, 4, 10)
    expected = {d: label for d, label in inspection.schedule(reg, 5)}
    v = VehicleFacts(id=2, user_id=20, first_registered_on=reg, shaken_expiry_on=D(2029, 4, 10))
    seen: list[tuple[dt.date, str | None]] = []
    day = reg
    while day <= D(2031, 6, 1):
        c = inspection.candidate(v, RULES, day_window(day))
        if c is not None:
            seen.append((c.due_on, c.variant))
            # The customer comes in on the due date; the DMS records the inspection.
            v = VehicleFacts(**{**_asdict(v), "last_inspection_on": c.due_on})
        if v.shaken_expiry_on is not None and day == v.shaken_expiry_on:
            v = VehicleFacts(
                **{**_asdict(v), "last_inspection_on": day, "shaken_expiry_on": add_months(day, 24)}
            )
        day += dt.timedelta(days=1)
    assert seen == [(D(2027, 4, 10), "12m"), (D(2028, 4, 10), "24m"), (D(2030, 4, 10), "12m")]
    assert all(expected[d] == variant for d, variant in seen)


def _asdict(v: VehicleFacts) -> dict[str, Any]:
    return {f: getattr(v, f) for f in VehicleFacts.__slots__}


def test_insurance_renewed_sold_and_recipient() -> None:
    w = day_window(D(2026, 5, 1))  # nini stage 1 for 7/1 → 5/1 (Fri)
    p = PolicyFacts(id=1, kind="nini", customer_id=3, expires_on=D(2026, 7, 1))
    assert insurance.candidate(p, RULES, w) is not None
    assert insurance.candidate(PolicyFacts(**{**_pdict(p), "renewed": True}), RULES, w) is None
    sold = PolicyFacts(**{**_pdict(p), "vehicle_id": 9, "vehicle_status": "sold"})
    assert insurance.candidate(sold, RULES, w) is None
    jib = PolicyFacts(
        id=2,
        kind="jibaiseki",
        customer_id=3,
        expires_on=D(2026, 6, 1),
        vehicle_id=9,
        vehicle_user_id=44,
        vehicle_status="owned",
    )
    c = insurance.candidate(jib, RULES, w)
    assert c is not None and c.customer_id == 44 and c.policy_id == 2


def _pdict(p: PolicyFacts) -> dict[str, Any]:
    return {f: getattr(p, f) for f in PolicyFacts.__slots__}


def test_jibaiseki_gap_r32() -> None:
    expiry = D(2026, 6, 30)
    noon = dt.time(12, 0)
    assert insurance.jibaiseki_gap(expiry, dt.datetime.combine(expiry, noon, tzinfo=JST))
    assert insurance.jibaiseki_gap(expiry, dt.datetime.combine(D(2026, 5, 30), noon, tzinfo=JST))
    assert not insurance.jibaiseki_gap(
        expiry, dt.datetime.combine(D(2026, 7, 30), noon, tzinfo=JST)
    )


CUSTOM = rules.parse(
    {
        "purpose": "p2",
        "kinds": {
            "shaken": {
                "stages": [
                    {
                        "name": n,
                        "months_before": m,
                        "days_before": d,
                        "booking": b,
                        "templates": {c: "t" for c in rules.CHANNELS},
                    }
                    for n, m, d, b in (("a", 3, 5, False), ("b", 1, 20, True), ("c", 0, 10, True))
                ]
            }
        },
    }
)
KINDS = [(RULES, k) for k in sorted(RULES.kinds)] + [(CUSTOM, "shaken")]


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=D(2025, 1, 1), max_value=D(2032, 12, 31)),
    st.integers(0, 40),
    st.sampled_from(KINDS),
)
def test_selected_ranges_cover_every_due_date_with_a_stage_in_the_window(
    through: dt.date, gap: int, which: tuple[rules.Rules, str]
) -> None:
    r, kind = which
    w = Window(after=through - dt.timedelta(days=gap + 1), through=through)
    rule = r.kinds[kind]
    bw = r.booking_window_months if kind == "shaken" else None
    rs = ranges.due_ranges(rule, w, booking_window_months=bw, calendar=r.calendar)
    # Brute force: every due date in the next 5 months whose stage falls in the window.
    due = through
    while due <= add_months(through, 5):
        opens = add_months(due, -bw) if bw is not None else None
        if stages.current(rule, due, w, r.calendar, booking_opens=opens) is not None:
            assert any(lo <= due <= hi for lo, hi in rs), (due, rs)
        due += dt.timedelta(days=1)


@given(
    st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)),
    st.integers(0, 20),
    st.integers(-24, 24),
)
def test_inverse_month_ranges_are_exact(lo: dt.date, width: int, months: int) -> None:
    hi = lo + dt.timedelta(days=width)
    x_lo, x_hi = ranges.inverse(lo, hi, months)
    if x_lo > x_hi:  # no date maps into [lo, hi] (e.g. 29 March from February in 2026)
        near = add_months(lo, months)
        span = [near + dt.timedelta(days=i) for i in range(-5, 6)]
        assert not any(lo <= add_months(x, -months) <= hi for x in span)
        return
    assert lo <= add_months(x_lo, -months) and add_months(x_hi, -months) <= hi
    assert add_months(x_lo - dt.timedelta(days=1), -months) < lo
    assert add_months(x_hi + dt.timedelta(days=1), -months) > hi


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=D(2025, 1, 1), max_value=D(2032, 12, 31)), st.integers(0, 10))
def test_inspection_base_ranges_cover_every_due_vehicle(through: dt.date, gap: int) -> None:
    w = Window(after=through - dt.timedelta(days=gap + 1), through=through)
    rule = RULES.kinds["inspection"]
    due_rs = ranges.due_ranges(rule, w, booking_window_months=None, calendar=RULES.calendar)
    base_rs = ranges.shift(due_rs, -12)
    base = add_months(through, -12)
    while base <= add_months(through, -10):
        v = VehicleFacts(id=1, user_id=2, last_inspection_on=base)
        if inspection.candidate(v, RULES, w) is not None:
            assert any(lo <= base <= hi for lo, hi in base_rs), (base, base_rs)
        base += dt.timedelta(days=1)
