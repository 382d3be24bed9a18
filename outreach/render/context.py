"""The render context of one message, built from the gate's Permit and nothing else.

Data minimisation by construction: a personal variable (`customer`, `vehicle`, `policy`)
holds exactly the fields whose data item the permit grants (`config/purposes.toml` maps each
field to one item). A field of any other item — and every column no item names, such as
the external id — is not in the context at all, so no template construct can reach it:
`{% set %}`, a macro, a loop, `|attr`, `customer|string` or `customer.items()` all see the
same few fields, and a read of anything else is StrictUndefined, a refusal naming the
field. The template analysis (`render.analysis`) is early feedback for staff, never this
guard. Pure: no database, no web, no SMTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any

from outreach.gate import purposes

PERSONAL_ROOTS = ("customer", "vehicle", "policy")
# Attributes of the variables that hold no personal data: only these are shown to templates.
STORE_FIELDS = frozenset({"id", "code", "name", "phone", "address", "closing_weekdays"})
CAMPAIGN_FIELDS = frozenset({"id", "name", "purpose", "category", "schedule_at"})
MESSAGE_FIELDS = frozenset({"id", "message_id", "optout_url", "preferences_url", "advertising"})


@dataclass(frozen=True, slots=True)
class Links:
    """What the message itself adds: its ids and its signed opt-out and preference links."""

    id: int | str
    message_id: str
    optout_url: str
    preferences_url: str
    advertising: bool
    token: str = ""  # the opt-out token (also carried by the mailto: List-Unsubscribe)

    def view(self) -> SimpleNamespace:
        return SimpleNamespace(
            id=self.id,
            message_id=self.message_id,
            optout_url=self.optout_url,
            preferences_url=self.preferences_url,
            advertising=self.advertising,
        )


class Fields:
    """Per item set, the attributes of each personal variable it grants (cached)."""

    def __init__(self, registry: purposes.Registry) -> None:
        by_item: dict[str, dict[str, list[str]]] = {}
        for (root, attr), item in registry.field_index.items():
            if root in PERSONAL_ROOTS and attr != "*":
                by_item.setdefault(item, {}).setdefault(root, []).append(attr)
        self._by_item = by_item
        self._sensitive = registry.sensitive_items
        self._cache: dict[frozenset[str], Mapping[str, tuple[str, ...]]] = {}

    def granted(self, items: frozenset[str]) -> Mapping[str, tuple[str, ...]]:
        found = self._cache.get(items)
        if found is None:
            out: dict[str, set[str]] = {r: set() for r in PERSONAL_ROOTS}
            for item in items - self._sensitive:  # sensitive data never reaches a template
                for root, attrs in self._by_item.get(item, {}).items():
                    out[root].update(attrs)
            found = MappingProxyType({r: tuple(sorted(a)) for r, a in out.items()})
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[items] = found
        return found


def _view(row: Any, attrs: Iterable[str]) -> SimpleNamespace | None:
    if row is None:
        return None
    if isinstance(row, Mapping):
        return SimpleNamespace(**{a: row[a] for a in attrs if a in row})
    return SimpleNamespace(**{a: getattr(row, a) for a in attrs if hasattr(row, a)})


def build(
    granted: Mapping[str, tuple[str, ...]],
    roots: Mapping[str, Any],
    *,
    dealer: SimpleNamespace,
    links: Links,
) -> dict[str, Any]:
    """The context: `customer`/`vehicle`/`policy` cut to the granted fields, `store` and
    `campaign` cut to their public fields, the dealer, and the message's links. `roots` maps
    variable names to rows (mappings or objects) or None; any other key is ignored."""
    ctx: dict[str, Any] = {
        root: _view(roots.get(root), granted.get(root, ())) for root in PERSONAL_ROOTS
    }
    ctx["store"] = _view(roots.get("store"), STORE_FIELDS)
    ctx["campaign"] = _view(roots.get("campaign"), CAMPAIGN_FIELDS)
    ctx["dealer"] = dealer
    ctx["message"] = links.view()
    return ctx
