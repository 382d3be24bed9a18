"""The counts of one daily run, stored as the run's summary."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from outreach.candidates.facts import Candidate, Window


@dataclass(slots=True)
class Summary:
    """Counts of one run; `queued` is how many outbox entries this run added."""

    run_id: int | None
    date: dt.date
    window: Window
    dry_run: bool
    candidates: int = 0
    already_queued: int = 0
    allowed: int = 0
    denied: int = 0
    deferred: int = 0
    queued: int = 0
    flags: int = 0
    denied_by_reason: Counter[str] = field(default_factory=Counter)
    breakdown: dict[str, Counter[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)  # channels this run queued entries on

    def count(self, c: Candidate, channel: str, what: str, n: int = 1) -> None:
        self.breakdown.setdefault(f"{c.kind}/{c.stage}/{channel}", Counter())[what] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "date": self.date.isoformat(),
            "window": {
                "after": self.window.after.isoformat(),
                "through": self.window.through.isoformat(),
            },
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "already_queued": self.already_queued,
            "allowed": self.allowed,
            "denied": self.denied,
            "deferred": self.deferred,
            "queued": self.queued,
            "flags": self.flags,
            "denied_by_reason": dict(sorted(self.denied_by_reason.items())),
            "by_kind_stage_channel": {k: dict(v) for k, v in sorted(self.breakdown.items())},
            "files": self.files,
        }
