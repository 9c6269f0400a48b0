"""``{% load money %}`` then ``{{ deposit.amount|money:deposit.currency }}`` -> ``1,234.50 EUR``.

Every page shows an amount with as many decimals as its currency has (JPY none, KWD three), never
with ``floatformat``. Without a currency (a work item's amount at stake) the amount is shown with
two decimals and no code.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from payments.currencies import money_str

register = template.Library()

MISSING = "—"


@register.filter
def money(amount: object, currency: str = "") -> str:
    if amount is None or amount == "":
        return MISSING
    if isinstance(amount, float):  # not exact; shown as the decimal it prints as
        amount = str(amount)
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return ""
    if not value.is_finite():
        return ""
    if not currency:
        return f"{value.quantize(Decimal('0.01')):,}"
    return money_str(value, str(currency))
