"""Amounts on pages carry their currency's minor units (the ``money`` filter), never floatformat."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import Context, Template

from payments.templatetags.money import money

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("1234.5"), "USD", "1,234.50 USD"),
        (Decimal("0.1"), "EUR", "0.10 EUR"),
        (Decimal("1234"), "JPY", "1,234 JPY"),
        (Decimal("1234.000"), "JPY", "1,234 JPY"),
        (Decimal("1.25"), "BHD", "1.250 BHD"),
        (Decimal("12345.678"), "KWD", "12,345.678 KWD"),
        (Decimal("-75.5"), "USD", "-75.50 USD"),
        (Decimal("-1500"), "JPY", "-1,500 JPY"),
        (Decimal("10"), "CLF", "10.0000 CLF"),
        ("250.00", "GBP", "250.00 GBP"),  # a decimal string, as a JSON field holds it
        (Decimal("99.9"), "", "99.90"),  # no currency (a work item's amount at stake)
        (None, "USD", "—"),
        ("not a number", "USD", ""),
    ],
)
def test_money_shows_the_currency_minor_units(amount: object, currency: str, shown: str) -> None:
    assert money(amount, currency) == shown


def test_money_in_a_template() -> None:
    html = Template("{% load money %}{{ a|money:c }} / {{ b|money:d }}").render(
        Context({"a": Decimal("5000"), "c": "JPY", "b": Decimal("-0.5"), "d": "KWD"})
    )
    assert html == "5,000 JPY / -0.500 KWD"


def test_no_template_formats_money_with_floatformat() -> None:
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{n}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\|\s*floatformat", line)
    ]
    assert offenders == []
