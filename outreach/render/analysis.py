"""Static analysis of Jinja2 templates: which data fields a template reads.

Pure: imports Jinja2's parser only, never renders. A *field* is a dotted name under one of
the top-level variables (`customer.name_kanji`, `vehicle.shaken_expiry_on`, `message.optout_url`),
cut to two parts because every column sits one level below its root: `vehicle.shaken_expiry_on.year`
and `customer.name_kanji.upper()` both read `customer.name_kanji` / `vehicle.shaken_expiry_on`.

The walk follows aliases: `{% set c = customer %}{{ c.email }}` reads `customer.email`, and
`{% for s in campaign.stores %}{{ s.name }}` reads `campaign.stores`. Whatever cannot be
resolved statically is reported conservatively as the widest field it could touch: a bare
`{{ customer }}`, `customer[key]` with a computed key, or `customer|dictsort` reads `customer`,
which no purpose allows, so such a template is refused rather than trusted. Testing whether
a whole variable is there (`{% if vehicle %}`, `{% if store and store.name %}`) reads nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from jinja2 import Environment, meta, nodes

Path = tuple[str, ...]
# Local name → the data path it aliases, or None for a local that holds no customer data.
Scope = dict[str, Path | None]

# Names that are never data: Jinja2's globals and the loop/macro specials.
NOT_DATA = frozenset(
    {
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
        "loop",
        "super",
        "self",
        "caller",
        "varargs",
        "kwargs",
    }
)
FIELD_DEPTH = 2
PRESENCE_TESTS = frozenset({"defined", "undefined", "none"})


@functools.cache
def _parser() -> Environment:
    return Environment(autoescape=False)  # noqa: S701 - parsing only, never renders


def fields_used(source: str) -> frozenset[str]:
    """The dotted fields a template references, found statically (includes not followed)."""
    walker = _Walker()
    walker.visit_all(_parser().parse(source).body, {})
    return frozenset(".".join(p[:FIELD_DEPTH]) for p in walker.found)


def includes(source: str) -> tuple[str | None, ...]:
    """Templates named by include/import/extends; None for a name computed at render time."""
    return tuple(meta.find_referenced_templates(_parser().parse(source)))


class _Walker:
    def __init__(self) -> None:
        self.found: set[Path] = set()

    def visit_all(self, items: Iterable[nodes.Node], scope: Scope) -> None:
        for n in items:
            self.visit(n, scope)

    def path(self, node: nodes.Node, scope: Scope) -> Path | None:
        """The data path an expression denotes, or None when it is not a plain data path."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            return None if node.name in NOT_DATA else (node.name,)
        if isinstance(node, nodes.Getattr):
            base = self.path(node.node, scope)
            return None if base is None else (*base, node.attr)
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str | int)
            and not isinstance(node.arg.value, bool)
        ):
            base = self.path(node.node, scope)
            return None if base is None else (*base, str(node.arg.value))
        return None

    def bind(self, target: nodes.Node, value: Path | None, scope: Scope) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = value
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self.bind(item, value, scope)
        # NSRef (`ns.attr = …`) binds nothing that can hold a data path by name.

    def visit_unless_path(self, node: nodes.Node, scope: Scope) -> None:
        if isinstance(node, nodes.Tuple):
            for item in node.items:
                self.visit_unless_path(item, scope)
        elif self.path(node, scope) is None:
            self.visit(node, scope)

    def visit_test(self, node: nodes.Node, scope: Scope) -> None:
        """A condition: testing whether a whole top-level variable is there
        (`{% if vehicle %}`, `vehicle is defined`) reads none of its fields."""
        if isinstance(node, nodes.And | nodes.Or):
            self.visit_test(node.left, scope)
            self.visit_test(node.right, scope)
        elif isinstance(node, nodes.Not):
            self.visit_test(node.node, scope)
        elif isinstance(node, nodes.Test) and node.name in PRESENCE_TESTS:
            if not self._is_root(node.node, scope):
                self.visit(node, scope)
        elif not self._is_root(node, scope):
            self.visit(node, scope)

    def _is_root(self, node: nodes.Node, scope: Scope) -> bool:
        if not isinstance(node, nodes.Name):
            return False
        p = self.path(node, scope)
        return p is not None and len(p) == 1

    def visit(self, node: nodes.Node, scope: Scope) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            if isinstance(node, nodes.Name) and node.ctx != "load":
                return
            p = self.path(node, scope)
            if p is not None:
                self.found.add(p)
                return
            self.visit_all(node.iter_child_nodes(), scope)
        elif isinstance(node, nodes.If | nodes.CondExpr):
            self.visit_test(node.test, scope)
            for child in node.iter_child_nodes():
                if child is not node.test:
                    self.visit(child, scope)
        elif isinstance(node, nodes.Assign):
            # `{% set c = customer %}` reads nothing by itself: uses of `c` are recorded.
            self.visit_unless_path(node.node, scope)
            target, value = node.target, node.node
            if (
                isinstance(target, nodes.Tuple)
                and isinstance(value, nodes.Tuple)
                and len(target.items) == len(value.items)
            ):
                for t, v in zip(target.items, value.items, strict=True):
                    self.bind(t, self.path(v, scope), scope)
            else:
                self.bind(target, self.path(value, scope), scope)
            if isinstance(target, nodes.NSRef):
                # `{% set ns.c = customer %}`: a namespace attribute is not followed, so what
                # it holds counts as read, whole (`customer` is refused, not trusted).
                held = self.path(value, scope)
                if held is not None:
                    self.found.add(held)
        elif isinstance(node, nodes.AssignBlock):
            if node.filter is not None:
                self.visit(node.filter, scope)
            self.visit_all(node.body, dict(scope))
            self.bind(node.target, None, scope)
        elif isinstance(node, nodes.For):
            self.visit(node.iter, scope)
            inner = dict(scope)
            self.bind(node.target, self.path(node.iter, scope), inner)
            if node.test is not None:
                self.visit(node.test, inner)
            self.visit_all(node.body, inner)
            self.visit_all(node.else_, dict(scope))
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            self.visit_all(node.defaults, scope)
            if isinstance(node, nodes.CallBlock):
                self.visit(node.call, scope)
            inner = dict(scope)
            for arg in node.args:
                self.bind(arg, None, inner)
            self.visit_all(node.body, inner)
            if isinstance(node, nodes.Macro):
                scope[node.name] = None
        elif isinstance(node, nodes.With):
            for v in node.values:
                self.visit_unless_path(v, scope)
            inner = dict(scope)
            for t, v in zip(node.targets, node.values, strict=True):
                self.bind(t, self.path(v, scope), inner)
            self.visit_all(node.body, inner)
        elif isinstance(node, nodes.Import):
            scope[node.target] = None
        elif isinstance(node, nodes.FromImport):
            for name in node.names:
                scope[name if isinstance(name, str) else name[1]] = None
        else:
            self.visit_all(node.iter_child_nodes(), scope)
