"""Tiny server-side SVG charts: horizontal bars and lines, readable without colour or JavaScript.

Each chart is an inline `<svg role="img">` named by its `<title>` and described by its `<desc>`,
with every value written as text beside its bar or point. Series differ in colour and also in
pattern (bar outline, line dash, marker shape) so they can be told apart in grey print. Only
presentation attributes are used, never `style`, so the Content-Security-Policy (no inline
styles) allows them and WeasyPrint draws them the same in the PDF.
"""

import itertools
import math
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = 'font-family="DejaVu Sans, system-ui, sans-serif"'
COLOURS = ("#0b4f6c", "#b35900", "#5c5c5c")
DASHES = ("", ' stroke-dasharray="6 4"', ' stroke-dasharray="2 3"')
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One row of values, drawn in one colour and pattern, named in the legend."""

    label: str
    values: list[float]


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def number(value: float) -> str:
    """A value as the chart writes it: whole numbers without decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _open(title: str, desc: str, width: int, height: int) -> tuple[str, list[str]]:
    n = next(_ids)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="100%" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="chart{n}-title chart{n}-desc">'
        f'<title id="chart{n}-title">{escape(title)}</title>'
        f'<desc id="chart{n}-desc">{escape(desc)}</desc>'
    )
    return head, []


def _legend(series: list[Series], y: int, marker: str) -> list[str]:
    parts, x = [], 0
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        if marker == "bar":
            parts.append(
                f'<rect x="{x}" y="{y - 10}" width="14" height="10" fill="{colour}" '
                f'stroke="#111" stroke-width="1"{DASHES[index % 3]}/>'
            )
        else:
            parts.append(
                f'<line x1="{x}" y1="{y - 5}" x2="{x + 18}" y2="{y - 5}" stroke="{colour}" '
                f'stroke-width="2.5"{DASHES[index % 3]}/>'
            )
        parts.append(f'<text x="{x + 22}" y="{y}" font-size="12" {FONT}>{escape(s.label)}</text>')
        x += 34 + 7 * len(s.label)
    return parts


def bar_chart(
    title: str, desc: str, labels: list[str], series: list[Series], width: int = 640
) -> Markup:
    """Horizontal grouped bars: one group per label, one bar per series, values as text."""
    label_width, bar, gap = min(220, width // 3), 14, 10
    group = bar * len(series) + gap
    top = 24 if len(series) > 1 else 6
    height = top + group * max(1, len(labels)) + 4
    plot = width - label_width - 44
    top_value = nice_max(max([v for s in series for v in s.values] or [0]))
    head, parts = _open(title, desc, width, height)
    if len(series) > 1:
        parts += _legend(series, 14, "bar")
    for row, label in enumerate(labels):
        y0 = top + row * group
        parts.append(
            f'<text x="{label_width - 6}" y="{y0 + (group - gap) / 2 + 4:.1f}" font-size="12" '
            f'text-anchor="end" {FONT}>{escape(label)}</text>'
        )
        for index, s in enumerate(series):
            value = s.values[row]
            length = plot * value / top_value
            y = y0 + index * bar
            colour = COLOURS[index % len(COLOURS)]
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar - 2}" '
                f'fill="{colour}" stroke="#111" stroke-width="{1 if value else 0}"'
                f"{DASHES[index % 3]}><title>{escape(s.label)}: {number(value)}</title></rect>"
            )
            parts.append(
                f'<text x="{label_width + length + 4:.1f}" y="{y + bar - 4}" font-size="11" '
                f"{FONT}>{number(value)}</text>"
            )
    parts.append(
        f'<line x1="{label_width}" y1="{top - 2}" x2="{label_width}" y2="{height - 2}" '
        f'stroke="#111" stroke-width="1"/>'
    )
    return Markup(head + "".join(parts) + "</svg>")  # noqa: S704 - all text escaped above


def line_chart(
    title: str, desc: str, labels: list[str], series: list[Series], width: int = 640
) -> Markup:
    """Lines over evenly spaced labels (months), a marker and its value at every point."""
    height, left, right, top, bottom = 220, 36, 12, 30, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_max(max([v for s in series for v in s.values] or [0]))
    step = plot_w / max(1, len(labels) - 1)
    head, parts = _open(title, desc, width, height)
    parts += _legend(series, 14, "line")
    for fraction in (0, 0.5, 1) if (top_value / 2).is_integer() else (0, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#c9cdd0" '
            f'stroke-width="1"/><text x="{left - 4}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end" {FONT}>{number(top_value * fraction)}</text>'
        )
    for index, label in enumerate(labels):
        parts.append(
            f'<text x="{left + index * step:.1f}" y="{height - 14}" font-size="10" '
            f'text-anchor="middle" {FONT}>{escape(label)}</text>'
        )
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = [
            (left + i * step, top + plot_h * (1 - value / top_value))
            for i, value in enumerate(s.values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"'
            f"{DASHES[index % 3]}/>"
        )
        for (x, y), value, label in zip(points, s.values, labels, strict=True):
            tip = f"<title>{escape(s.label)}, {escape(label)}: {number(value)}</title>"
            if index % 2:
                parts.append(
                    f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                    f'fill="{colour}">{tip}</rect>'
                )
            else:
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{tip}</circle>'
                )
            if not value:  # zeros sit on the axis; their labels would only overlap
                continue
            dy = -8 if index % 2 == 0 else 14
            parts.append(
                f'<text x="{x:.1f}" y="{y + dy:.1f}" font-size="10" text-anchor="middle" '
                f'fill="{colour}" {FONT}>{number(value)}</text>'
            )
    return Markup(head + "".join(parts) + "</svg>")  # noqa: S704 - all text escaped above
