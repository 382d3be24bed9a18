"""The consent ledger's pure core and the pure check behind `consent verify` (properties)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.gate import consent, ledger

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCOPES = [
    "all",
    "category:marketing",
    "kind:shaken",
    "channel:email",
    "campaign:7",
    "insurer_share",
]
_FIELDS = [f.name for f in dataclasses.fields(ledger.Event)]
steps = st.lists(
    st.tuples(st.sampled_from(ledger.ACTIONS), st.sampled_from(SCOPES)), min_size=1, max_size=12
)


def build(cid: int, plan: list[tuple[str, str]]) -> tuple[list[Any], ledger.Prefs]:
    """Rows as `record_event` writes them: only real changes, seq 1…n, chained."""
    rows: list[Any] = []
    prefs = ledger.Prefs()
    head: str | None = None
    for i, (action, scope) in enumerate(plan):
        e = ledger.Event(
            customer_id=cid,
            seq=len(rows) + 1,
            action=action,
            scope=scope,
            source="link",
            actor="customer",
            occurred_at=T0 + dt.timedelta(minutes=i),
            evidence={"outbox_id": i},
        )
        if not ledger.changes(prefs, e):
            continue
        prefs = ledger.apply(prefs, e)
        digest = ledger.event_hash(head, e)
        rows.append(SimpleNamespace(**dataclasses.asdict(e), prev_hash=head, hash=digest))
        head = digest
    return rows, prefs


@given(steps)
def test_a_ledger_written_by_the_rules_verifies(plan: list[tuple[str, str]]) -> None:
    rows, prefs = build(1, plan)
    head = rows[-1].hash if rows else None
    assert consent.check_customer(1, rows, len(rows), head, prefs) == []
    assert ledger.derive(ledger.Event(**{k: getattr(r, k) for k in _FIELDS}) for r in rows) == prefs


@settings(max_examples=200)
@given(steps, st.data())
def test_any_edit_of_any_row_is_detected_at_its_seq(
    plan: list[tuple[str, str]], data: st.DataObject
) -> None:
    rows, prefs = build(1, plan)
    if not rows:
        return
    i = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(
        st.sampled_from(["action", "scope", "source", "actor", "occurred_at", "evidence"])
    )
    row = rows[i]
    new: Any = {
        "action": "grant" if row.action != "grant" else "withdraw",
        "scope": row.scope + "x",
        "source": "phone",
        "actor": "staff:x",
        "occurred_at": row.occurred_at + dt.timedelta(microseconds=1),
        "evidence": {**row.evidence, "outbox_id": -1},
    }[field]
    setattr(row, field, new)
    problems = consent.check_customer(1, rows, len(rows), rows[-1].hash, prefs)
    assert ("hash_mismatch", row.seq) in {(p.code, p.seq) for p in problems}


@given(steps, st.sampled_from(SCOPES))
def test_a_record_out_of_step_is_detected(plan: list[tuple[str, str]], extra: str) -> None:
    rows, prefs = build(1, plan)
    head = rows[-1].hash if rows else None
    wrong = dataclasses.replace(prefs, opt_outs=prefs.opt_outs ^ {extra})
    problems = consent.check_customer(1, rows, len(rows), head, wrong)
    assert [p.code for p in problems] == ["record_out_of_step"]


@given(steps)
def test_repeating_the_last_event_changes_nothing(plan: list[tuple[str, str]]) -> None:
    p = ledger.Prefs()
    for i, (action, scope) in enumerate(plan):
        e = ledger.Event(1, i + 1, action, scope, "link", "customer", T0)
        p = ledger.apply(p, e)
        assert not ledger.changes(p, e)  # every action is idempotent
