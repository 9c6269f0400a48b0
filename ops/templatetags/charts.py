"""Charts drawn on the server as inline SVG: no script, no CDN, nothing the strict CSP refuses
(geometry is in SVG attributes, colours in static CSS classes). Each bar carries its value in a
``data-value`` attribute and a ``<title>``, so a person hovering and a browser test read the same
figure the table beside it shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import template

from payments.templatetags.money import money

register = template.Library()

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM, PAD_LEFT = 640, 220, 16, 36, 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    shown: str
    x: float
    y: float
    width: float
    height: float
    negative: bool


@register.inclusion_tag("charts/bar_chart.html")
def bar_chart(series: Sequence[tuple[str, Any]], currency: str = "", title: str = "") -> dict[str, Any]:
    """A bar per (label, value); negative values hang below the zero line."""
    values = [Decimal(str(value or 0)) for _, value in series]
    top = max([v for v in values if v > 0], default=Decimal(0))
    bottom = min([v for v in values if v < 0], default=Decimal(0))
    span = (top - bottom) or Decimal(1)
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    zero_y = PAD_TOP + float(top / span) * plot
    step = (WIDTH - 2 * PAD_LEFT) / max(len(values), 1)
    bars = []
    for index, ((label, _), value) in enumerate(zip(series, values, strict=True)):
        height = float(abs(value) / span) * plot
        bars.append(
            Bar(
                label=str(label),
                value=value,
                shown=money(value, currency) if currency else f"{value:,}",
                x=PAD_LEFT + index * step + step * 0.15,
                y=zero_y - height if value >= 0 else zero_y,
                width=step * 0.7,
                height=max(height, 0.5 if value else 0),
                negative=value < 0,
            )
        )
    return {
        "bars": bars,
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "zero_y": zero_y,
        "label_y": HEIGHT - PAD_BOTTOM + 16,
        "step": step,
    }


@dataclass(frozen=True)
class Point:
    label: str
    value: Decimal
    shown: str
    x: float
    y: float


@register.inclusion_tag("charts/line_chart.html")
def line_chart(series: Sequence[tuple[str, Any]], currency: str = "", title: str = "") -> dict[str, Any]:
    """A trend: a point per (label, value) joined by a line, on the same scale as ``bar_chart``
    (the zero line shown when values cross it). Every point carries its value like a bar."""
    values = [Decimal(str(value or 0)) for _, value in series]
    top = max([*values, Decimal(0)])
    bottom = min([*values, Decimal(0)])
    span = (top - bottom) or Decimal(1)
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = (WIDTH - 2 * PAD_LEFT) / max(len(values) - 1, 1)
    points = [
        Point(
            label=str(label),
            value=value,
            shown=money(value, currency) if currency else f"{value:,}",
            x=PAD_LEFT + index * step,
            y=PAD_TOP + float((top - value) / span) * plot,
        )
        for index, ((label, _), value) in enumerate(zip(series, values, strict=True))
    ]
    # a label under every point would overlap: about eight, evenly spread
    every = max(1, len(points) // 8)
    return {
        "points": points,
        "path": " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(points)),
        "labelled": {i for i in range(0, len(points), every)},
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "zero_y": PAD_TOP + float(top / span) * plot,
        "label_y": HEIGHT - PAD_BOTTOM + 16,
    }


@dataclass(frozen=True)
class Stage:
    label: str
    value: Decimal
    shown: str
    share: str  # of the first stage, in percent
    x: float
    y: float
    width: float
    height: float
    text_y: float


@register.inclusion_tag("charts/funnel_chart.html")
def funnel_chart(series: Sequence[tuple[str, Any]], title: str = "") -> dict[str, Any]:
    """A funnel: one centred bar per stage, its width in proportion to the first stage's, with
    the share of the first stage beside it."""
    values = [Decimal(str(value or 0)) for _, value in series]
    first = values[0] if values and values[0] else Decimal(1)
    row = (HEIGHT - PAD_TOP) / max(len(values), 1)
    full = WIDTH * 0.6
    stages = []
    for index, ((label, _), value) in enumerate(zip(series, values, strict=True)):
        width = max(float(value / first) * full, 1.0 if value else 0.0)
        stages.append(
            Stage(
                label=str(label),
                value=value,
                shown=f"{value:,}",
                share=f"{(value * 100 / first).quantize(Decimal('0.1'))}%",
                x=(WIDTH * 0.6 - width) / 2 + WIDTH * 0.02,
                y=PAD_TOP + index * row,
                width=width,
                height=row * 0.7,
                text_y=PAD_TOP + index * row + row * 0.45,
            )
        )
    return {"stages": stages, "title": title, "width": WIDTH, "height": HEIGHT, "text_x": WIDTH * 0.66}
