"""Small charts drawn server-side as inline SVG (no script, no CDN, allowed by the CSP): a
visible title, both axes labelled with their unit, ticks on the value axis, and every value
also readable as text (each bar's <title>, and the data table the pages show beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 36, 48
FONT = "font-family=\"'IPAGothic','IPAexGothic','Noto Sans JP',sans-serif\""


def _ticks(top: int) -> list[int]:
    """0 and 3–5 round steps up to at least `top`."""
    if top <= 4:
        return list(range(0, max(top, 1) + 1))
    raw = top / 4
    mag = 10 ** (len(str(int(raw))) - 1)
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = int(-(-top // step))
    return [int(i * step) for i in range(n + 1)]


def bars(
    points: Sequence[tuple[str, int]],
    *,
    title: str,
    x_label: str = "",
    unit: str = "件",
    horizontal: bool = False,
) -> str:
    """A bar chart of (label, value) with a title and labelled axes."""
    if horizontal:
        return _horizontal(points, title=title, x_label=x_label, unit=unit)
    n = max(len(points), 1)
    ticks = _ticks(max([v for _, v in points] + [1]))
    top = ticks[-1] or 1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / n
    every = max(1, -(-n // 8))
    base_y = TOP + inner_h
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH / 2}" y="18" font-size="14" font-weight="bold" fill="#1d2733" '
        f'text-anchor="middle">{escape(title)}</text>',
        f'<text x="14" y="{TOP + inner_h / 2}" font-size="11" fill="#333" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + inner_h / 2})">{escape(unit)}</text>',
    ]
    for t in ticks:
        y = base_y - inner_h * t / top
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{"#888" if t == 0 else "#e3e8ef"}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" fill="#333" '
            f'text-anchor="end">{t:,}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base_y}" stroke="#888" stroke-width="1"/>'
    )
    for i, (label, value) in enumerate(points):
        h = inner_h * value / top
        x = LEFT + i * slot + slot * 0.1
        parts.append(
            f'<rect x="{x:.1f}" y="{base_y - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{escape(label)}: {value:,}{escape(unit)}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + slot * 0.4:.1f}" y="{base_y + 14}" font-size="10" fill="#333" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if x_label:
        parts.append(
            f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 8}" font-size="11" fill="#333" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
    if not points:
        parts.append(
            f'<text x="{LEFT + inner_w / 2}" y="{TOP + inner_h / 2}" font-size="13" fill="#555" '
            'text-anchor="middle">データはまだありません</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _horizontal(points: Sequence[tuple[str, int]], *, title: str, x_label: str, unit: str) -> str:
    """Bars to the right, one per row (long Japanese labels stay whole)."""
    row, label_w = 26, 250
    height = TOP + max(len(points), 1) * row + 40
    ticks = _ticks(max([v for _, v in points] + [1]))
    top = ticks[-1] or 1
    inner_w = WIDTH - label_w - RIGHT - 40
    base_y = TOP + max(len(points), 1) * row
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH / 2}" y="18" font-size="14" font-weight="bold" fill="#1d2733" '
        f'text-anchor="middle">{escape(title)}</text>',
    ]
    for t in ticks:
        x = label_w + inner_w * t / top
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{base_y}" '
            f'stroke="{"#888" if t == 0 else "#e3e8ef"}" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{base_y + 14}" font-size="10" fill="#333" '
            f'text-anchor="middle">{t:,}</text>'
        )
    for i, (label, value) in enumerate(points):
        y = TOP + i * row
        w = inner_w * value / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row * 0.65:.1f}" font-size="11" fill="#333" '
            f'text-anchor="end">{escape(label[:22])}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="#3b6ea5">'
            f"<title>{escape(label)}: {value:,}{escape(unit)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + row * 0.65:.1f}" font-size="11" '
            f'fill="#333">{value:,}{escape(unit)}</text>'
        )
    axis = f"{x_label or '件数'}（{unit}）"
    parts.append(
        f'<text x="{label_w + inner_w / 2}" y="{height - 8}" font-size="11" fill="#333" '
        f'text-anchor="middle">{escape(axis)}</text>'
    )
    if not points:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{TOP + row / 2}" font-size="13" fill="#555" '
            'text-anchor="middle">データはまだありません</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
