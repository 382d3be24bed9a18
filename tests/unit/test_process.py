"""`process.settle`: start-up's objects frozen out of the cyclic collector, garbage collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from outreach import process
from outreach.cli import web


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_freezes_what_lives_and_collects_the_garbage_first() -> None:
    kept = Node()
    kept.other = Node()
    kept.other.other = kept  # a live cycle: frozen
    dead = Node()
    dead.other = Node()
    dead.other.other = dead  # unreachable once `dead` goes: collected, not frozen
    gone = weakref.ref(dead)
    del dead
    try:
        frozen = process.settle()
        assert frozen > 0 and frozen == gc.get_freeze_count()
        assert gone() is None
        assert not any(o is kept for o in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())


def test_serve_settles_after_every_other_startup_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheduler, worker in (("1", "1"), ("0", "0"), ("0", "1")):
        monkeypatch.setenv("OUTREACH_SERVE_SCHEDULER", scheduler)
        monkeypatch.setenv("OUTREACH_SERVE_WORKER", worker)
        hooks = web.startup_hooks(None)  # type: ignore[arg-type]  # the App is not read
        assert hooks[-1] is web._settle
        assert hooks.count(web._settle) == 1
