"""`state.from_row` builds exactly what the frozen dataclass constructor builds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc

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


async def test_no_batch_pauses_the_collector_inside_the_web_server() -> None:
    """A request (or the server's lifespan) runs marked as served: gc_paused leaves the
    collector on, while the same batch outside a server pauses it."""
    import asyncio

    from outreach.gate import batch
    from outreach.web.app import Serving

    seen: list[bool] = []

    async def endpoint(scope: object, receive: object, send: object) -> None:
        with batch.gc_paused():
            seen.append(gc.isenabled())

    async def request() -> None:  # its own task, as the server runs each request
        await Serving(endpoint)({"type": "http"}, None, None)  # type: ignore[arg-type]

    await asyncio.create_task(request())
    assert seen == [True]
    with batch.gc_paused():  # outside the server (the daily run, gate audit): paused
        assert not gc.isenabled()
    assert gc.isenabled()
