"""The facts campaign validation needs, read from the gate's purpose registry and the render
engineer's template analysis (the real `validation.Rules`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from outreach.gate import purposes
from outreach.render import analysis
from outreach.staff.validation import PurposeView


@dataclass(frozen=True)
class RegistryRules:
    registry: purposes.Registry

    def purpose(self, purpose_id: str) -> PurposeView | None:
        p = self.registry.purposes.get(purpose_id)
        if p is None:
            return None
        return PurposeView(
            id=p.id,
            text=f"{p.number} {p.text}",
            category=p.category,
            channels=p.channels,
            items=p.items,
            topics=frozenset(p.topics),
        )

    def purposes(self) -> list[PurposeView]:
        out = [self.purpose(pid) for pid in self.registry.purposes]
        return [p for p in out if p is not None]

    def items_for_fields(self, fields: Iterable[str]) -> frozenset[str]:
        return self.registry.items_for_fields(fields)

    def fields_used(self, source: str) -> frozenset[str]:
        return analysis.fields_used(source)

    def includes(self, source: str) -> tuple[str | None, ...]:
        return analysis.includes(source)

    def item_label(self, item_id: str) -> str:
        item = self.registry.items.get(item_id)
        return item.label if item else item_id


def load(config_dir: Path) -> RegistryRules:
    return RegistryRules(purposes.load(config_dir / "purposes.toml"))
