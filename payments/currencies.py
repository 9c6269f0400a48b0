"""The currencies the back office books, with their ISO 4217 minor units.

A short explicit table, not every ISO code: a broker enables a currency deliberately (wallets,
PSP clearing and bank accounts exist per currency), and an amount is only valid with as many
decimals as its currency allows.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from payments import errors
from payments.errors import PaymentError

MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "AUD": 2,
    "CAD": 2,
    "JPY": 0,
    "KWD": 3,
}

# ISO 4217 currencies whose minor unit is not two. Not bookable for that (MINOR_UNITS decides), but
# an amount may still be shown in them: a client's base currency is any ISO code.
ISO_MINOR_UNITS_NOT_TWO: dict[str, int] = {
    **{code: 0 for code in ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX")},
    **{code: 0 for code in ("UYI", "VND", "VUV", "XAF", "XOF", "XPF")},
    **{code: 3 for code in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")},
    **{code: 4 for code in ("CLF", "UYW")},
}


def minor_units(currency: str) -> int:
    """How many decimals an amount in this currency has (two when ISO 4217 says nothing else)."""
    code = (currency or "").strip().upper()
    return MINOR_UNITS.get(code, ISO_MINOR_UNITS_NOT_TWO.get(code, 2))


def currency_check(currency: str, *, field: str = "currency") -> str:
    code = (currency or "").strip().upper()
    if code not in MINOR_UNITS:
        raise PaymentError(errors.UNKNOWN_CURRENCY.format(currency=currency, field=field), field=field)
    return code


def money_parse(amount: object, currency: str, *, field: str = "amount") -> Decimal:
    """An amount as an exact Decimal: positive, finite, and with no more decimals than the
    currency allows. Floats are refused (they are not exact)."""
    code = currency_check(currency)
    if isinstance(amount, float):
        raise PaymentError(errors.AMOUNT_NOT_EXACT.format(field=field), field=field)
    try:
        value = Decimal(str(amount).strip()) if not isinstance(amount, Decimal) else amount
    except (InvalidOperation, ValueError):
        raise PaymentError(errors.AMOUNT_NOT_A_NUMBER.format(field=field, value=amount), field=field) from None
    if not value.is_finite():
        raise PaymentError(errors.AMOUNT_NOT_A_NUMBER.format(field=field, value=amount), field=field)
    if value <= 0:
        raise PaymentError(errors.AMOUNT_NOT_POSITIVE.format(field=field), field=field)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MINOR_UNITS[code] and value != value.quantize(Decimal(1).scaleb(-MINOR_UNITS[code])):
        raise PaymentError(
            errors.TOO_MANY_DECIMALS.format(field=field, currency=code, places=MINOR_UNITS[code]), field=field
        )
    if value >= Decimal("1e15"):
        raise PaymentError(errors.AMOUNT_TOO_LARGE.format(field=field), field=field)
    return value.quantize(Decimal(1).scaleb(-MINOR_UNITS[code]))


def money_str(amount: Decimal, currency: str) -> str:
    """``Decimal("1234.5"), "USD"`` -> ``"1,234.50 USD"``; as many decimals as the currency has
    (``"1,234 JPY"``, ``"1.250 KWD"``). Pages show money with the ``money`` filter, which is this."""
    return f"{amount.quantize(Decimal(1).scaleb(-minor_units(currency))):,} {currency}"


def amount_str(amount: Decimal, currency: str) -> str:
    """``Decimal("500.0000"), "EUR"`` -> ``"500.00"``: an amount as text for other systems (events,
    APIs), with exactly the currency's decimals and no grouping."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))
