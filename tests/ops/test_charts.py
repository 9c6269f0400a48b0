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


def test_line_chart_points_carry_their_values_and_rise_with_them() -> None:
    html = Template("{% load charts %}{% line_chart series '' 'Registrations' %}").render(
        Context({"series": [("2026-01-05", 3), ("2026-01-12", 7), ("2026-01-19", 0)]})
    )
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', html) == [
        ("2026-01-05", "3"),
        ("2026-01-12", "7"),
        ("2026-01-19", "0"),
    ]
    ys = [float(y) for y in re.findall(r'<circle cx="[0-9.]+" cy="([0-9.]+)"', html)]
    assert ys[1] < ys[0] < ys[2]  # higher values are drawn higher (smaller y)
    assert '<path class="chart-line" d="M' in html


def test_funnel_stage_widths_are_proportional_to_the_first() -> None:
    html = Template("{% load charts %}{% funnel_chart series 'Funnel' %}").render(
        Context({"series": [("Registered", 10), ("Approved", 5), ("First deposit", 2)]})
    )
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', html) == [
        ("Registered", "10"),
        ("Approved", "5"),
        ("First deposit", "2"),
    ]
    widths = [float(w) for w in re.findall(r'width="([0-9.]+)" height', html)]
    assert widths[0] == 2 * widths[1] == 5 * widths[2]
    assert "Approved: 5 (50.0%)" in html
