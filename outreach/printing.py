"""HTML as an A4 PDF: the documents staff sign, send or file (the Art. 33 disclosure, the
correction notice, the monthly compliance report), laid out by WeasyPrint (Pango, the IPA
fonts) from the same HTML the console shows. The print batches' letters are drawn by
reportlab instead (`letters.pdf`): thousands of pages a day, where layout speed counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path


async def pdf(html: str, stylesheets: Sequence[Path] = ()) -> bytes:
    """The HTML (its own `<style>`, then `stylesheets`) as a PDF, off the event loop: layout
    takes a moment. Page size and margins come from the CSS `@page` rules."""

    def build() -> bytes:
        import weasyprint  # imported on first use: a large library the other pages never need

        out: bytes = weasyprint.HTML(string=html).write_pdf(
            stylesheets=[weasyprint.CSS(filename=str(p)) for p in stylesheets]
        )
        return out

    return await asyncio.to_thread(build)
