"""What every decision needs besides the customer's state: the registry and the gate policy.

The context also keeps small caches of values derived from configuration alone (a request's
static checks, a send window's next opening), so a batch of a million decisions computes
each of them once. Caches never hold customer data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach.gate import policy as policy_mod
from outreach.gate import purposes


@dataclass
class GateContext:
    registry: purposes.Registry
    policy: policy_mod.Policy
    plans: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    windows: dict[tuple[str, frozenset[int], dt.datetime], dt.datetime | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    partners: dict[tuple[str | None, str | None], bool] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def version(self) -> int:
        return self.registry.version


def load_context(config_dir: Path) -> GateContext:
    """Load config/purposes.toml and config/gate.toml from `config_dir`."""
    return GateContext(
        registry=purposes.load(config_dir / "purposes.toml"),
        policy=policy_mod.load(config_dir / "gate.toml"),
    )
