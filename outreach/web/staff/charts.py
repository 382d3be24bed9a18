"""Small charts drawn server-side as inline SVG (no script, no CDN, allowed by the CSP)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 160, 24


def bars(points: Sequence[tuple[str, int]], *, title: str) -> str:
    """A bar chart of (label, value); labels thinned to stay readable."""
    n = max(len(points), 1)
    top = max([v for _, v in points] + [1])
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    slot = inner_w / n
    every = max(1, n // 8)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888" stroke-width="1"/>',
        f'<text x="{PAD}" y="{PAD - 8}" font-size="10" fill="#555">最大 {top}</text>',
    ]
    for i, (label, value) in enumerate(points):
        h = inner_h * value / top
        x = PAD + i * slot + slot * 0.1
        y = HEIGHT - PAD - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{escape(label)}: {value}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD + 12}" font-size="9" '
                f'fill="#555">{escape(label)}</text>'
            )
    if not points:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="12" fill="#777" '
            'text-anchor="middle">データはまだありません</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
