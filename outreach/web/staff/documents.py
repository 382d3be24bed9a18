"""Documents handed to a customer: the Art. 33 disclosure (開示書) and the notice of the
outcome of a correction request (R8), as a printable page and as an A4 PDF (WeasyPrint over
the same HTML, Debian's IPA fonts). Every value is shown with its Japanese label; times in
JST, Japanese date form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2

from outreach import labels
from outreach.provision import records as provision_records
from outreach.render import dealer as dealer_mod
from outreach.render import golive
from outreach.staff.corrections import CorrectionNotice
from outreach.staff.disclosure import DisclosureDocument

STYLESHEET = "document.css"


def render_disclosure(
    env: jinja2.Environment,
    doc: DisclosureDocument,
    *,
    purposes: Sequence[Any],
    names: Mapping[str, str],
    dealer: Any = None,
    pdf: bool = False,
) -> str:
    shown, unfinished = printable(dealer)
    return env.get_template("documents/disclosure.html").render(
        doc=doc,
        dealer=shown,
        unfinished=unfinished,
        purposes=[p for p in purposes if p.channels or p.items],
        person=lambda u: labels.person(u, names),
        pdf=pdf,
        root="/staff",
        items=_items,
        provision=provision_records.describe,
    )


def render_notice(
    env: jinja2.Environment,
    doc: CorrectionNotice,
    *,
    names: Mapping[str, str],
    dealer: Any = None,
    pdf: bool = False,
) -> str:
    shown, unfinished = printable(dealer)
    return env.get_template("documents/notice.html").render(
        doc=doc,
        dealer=shown,
        unfinished=unfinished,
        person=lambda u: labels.person(u, names),
        pdf=pdf,
        root="/staff",
    )


def printable(dealer: Any) -> tuple[Any, list[str]]:
    """The sender as a document prints it: a field still holding a go-live placeholder
    (golive.MARKERS) is left blank, never printed, and named in the second value so the
    page can tell staff what to fill in (config/dealer.toml)."""
    if dealer is None:
        return None, []
    values, unfinished = {}, []
    for f in sorted(dealer_mod.FIELDS):
        v = getattr(dealer, f)
        if isinstance(v, str) and golive.is_placeholder(v):
            values[f] = ""
            unfinished.append(f)
        else:
            values[f] = v
    return SimpleNamespace(**values), unfinished


def _items(values: Sequence[str] | None) -> str:
    return "、".join(labels.label("data_item", v) for v in values or []) or "—"


def stylesheet_path(templates_dir: Path) -> Path:
    return templates_dir / "web" / "staff" / "static" / STYLESHEET
