"""Field checks shared by the forms, the API and the services (maintained data, not lists)."""

from __future__ import annotations

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError

from accounts import errors


def normalise_phone(value: str) -> str:
    """'+44 7700 900123' -> '+447700900123'; raises ValidationError if not a valid number."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError({"phone": errors.INVALID_PHONE}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone": errors.INVALID_PHONE})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def currency_code(value: str, field: str = "currency") -> str:
    code = (value or "").strip().upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationError({field: errors.UNKNOWN_CURRENCY.format(currency=value)})
    return code
