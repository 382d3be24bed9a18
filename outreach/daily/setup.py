"""What a daily run loads once: the reminder rules, the gate context, the items each
template uses (and the shared gate requests built from them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach.candidates import rules
from outreach.gate import decision
from outreach.gate.context import GateContext, load_context


@dataclass(frozen=True)
class Setup:
    rules: rules.Rules
    gate: GateContext
    items: Mapping[tuple[str, str, str], frozenset[str]]  # (kind, stage, channel) → data items
    requests: dict[tuple[Any, ...], decision.Request] = field(default_factory=dict)


def setup(config_dir: Path, templates_dir: Path) -> Setup:
    """Load the reminder rules and the gate context, and the items each template uses."""
    r = rules.load(config_dir / "reminders.toml")
    ctx = load_context(config_dir)
    ctx.registry.purpose(r.purpose)  # an unknown purpose is a configuration error now
    items: dict[tuple[str, str, str], frozenset[str]] = {}
    for kind, rule in r.kinds.items():
        for stage in rule.stages:
            for channel, template in stage.templates.items():
                fields = template_fields(templates_dir, template, channel, r, kind)
                items[(kind, stage.name, channel)] = ctx.registry.items_for_fields(fields)
    return Setup(rules=r, gate=ctx, items=items)


def template_fields(
    templates_dir: Path, name: str, channel: str, r: rules.Rules, kind: str
) -> frozenset[str]:
    """The fields a reminder uses: read from the mail template when it exists (email), else
    the configured print/call columns and the kind's fields."""
    from outreach.render import analysis

    configured = frozenset(r.fields_for(kind, channel))
    folder = templates_dir / "mail" / name
    if channel != "email" or not folder.is_dir():
        return configured | (frozenset({"customer.email"}) if channel == "email" else frozenset())
    found: set[str] = set()
    seen: set[Path] = set()
    todo = [p for p in folder.iterdir() if p.suffix in (".txt", ".html")]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        source = path.read_text(encoding="utf-8")
        found |= analysis.fields_used(source)
        for inc in analysis.includes(source):
            if inc is not None:
                todo.append(templates_dir / "mail" / inc)
    return frozenset(found)
