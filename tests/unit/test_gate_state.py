"""`state.from_row` builds exactly what the frozen dataclass constructor builds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from outreach.gate.state import Contact, CustomerState, from_row


def test_from_row_equals_the_constructor() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    values = (
        7,
        "active",
        2,
        "joint_use",
        "トヨタ自動車株式会社",
        "lexus_tokyo",
        "a@example.jp",
        True,
        "opt_in",
        3,
        True,
        False,
        frozenset({"channel:post"}),
        False,
        frozenset({"insurer_share"}),
        frozenset({2}),
        (Contact(at, "marketing", "campaign"),),
    )
    assert len(values) == len(dataclasses.fields(CustomerState))
    state = from_row(values)
    assert state == CustomerState(*values)
    assert dataclasses.replace(state, status="closed").status == "closed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.status = "closed"  # type: ignore[misc]


def test_gc_paused_restores_the_collector() -> None:
    import gc

    from outreach.gate import batch

    assert gc.isenabled()
    with batch.gc_paused():
        assert not gc.isenabled()
        with batch.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # only the outermost pause re-enables
    assert gc.isenabled()
    with pytest.raises(RuntimeError), batch.gc_paused():
        raise RuntimeError
    assert gc.isenabled()
