"""The report as HTML for print and as PDF (`outreach.printing`, the same layout as the
Art. 33 documents): the PDF is what the 個人情報保護管理者 signs and files.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from outreach import printing
from outreach.compliance.model import Report


def html(report: Report, templates_dir: Path) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir / "web" / "staff"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("compliance/print.html").render(r=report)


async def pdf(report: Report, templates_dir: Path) -> bytes:
    """The report as an A4 PDF (the print stylesheet's `@page`)."""
    return await printing.pdf(html(report, templates_dir))
