"""The server-drawn bar chart: each bar carries its value, heights are proportional, negatives hang below."""

from __future__ import annotations

import re
from decimal import Decimal

from django.template import Context, Template


def _render(series: list[tuple[str, object]], currency: str = "EUR") -> str:
    return Template("{% load charts %}{% bar_chart series currency 'Commissions' %}").render(
        Context({"series": series, "currency": currency})
    )


def test_each_bar_carries_its_value_and_label() -> None:
    html = _render([("Sep", Decimal("120.50")), ("Oct", Decimal("60.25"))])
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', html) == [("Sep", "120.50"), ("Oct", "60.25")]
    assert "Sep: 120.50 EUR" in html


def test_heights_are_proportional_and_negative_bars_hang_below_zero() -> None:
    html = _render([("a", 100), ("b", 50), ("c", -50)])
    heights = [float(h) for h in re.findall(r'height="([0-9.]+)"></rect>', html)]
    assert heights[0] == 2 * heights[1]
    assert heights[2] == heights[1]
    zero = float(re.search(r'y1="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    ys = [float(y) for y in re.findall(r'<rect x="[0-9.]+" y="([0-9.]+)"', html)]
    assert ys[2] == round(zero, 1)
    assert ys[0] < zero


def test_no_data_says_so() -> None:
    assert "Nothing to show for this period." in _render([])
