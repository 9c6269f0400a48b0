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
