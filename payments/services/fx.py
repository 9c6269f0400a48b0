"""FX rates: the price of one currency in another from a moment on. A rate is a fact of its time,
so it is never edited or deleted (a correction is a newer rate). ``fx_rate_add`` is the one way a
rate comes in, whoever carries it out (the admin's FX rates, the approved ``risk.fx_rate_add``
request of a finance or risk officer); each is in the audit trail."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from payments import errors
from payments.errors import PaymentError
from payments.models import FxRate

_CODE = re.compile(r"[A-Z]{3}")
# FxRate.rate: max_digits=18, decimal_places=8
RATE_INTEGER_DIGITS, RATE_PLACES = 10, 8


def fx_currency_clean(value: object, *, field: str) -> str:
    code = str(value or "").strip().upper()
    if not _CODE.fullmatch(code):
        raise PaymentError(errors.FX_CURRENCY.format(field=field), field=field)
    return code


def fx_rate_clean(*, base: object, quote: object, rate: object, as_of: datetime) -> tuple[str, str, Decimal]:
    """The pair in capitals and the rate as an exact positive Decimal that fits the column, or a
    ``PaymentError`` naming the field at fault."""
    base_code, quote_code = fx_currency_clean(base, field="base"), fx_currency_clean(quote, field="quote")
    if base_code == quote_code:
        raise PaymentError(errors.FX_SAME_CURRENCY.format(currency=base_code), field="quote")
    if isinstance(rate, float):
        raise PaymentError(errors.AMOUNT_NOT_EXACT.format(field="rate"), field="rate")
    try:
        value = rate if isinstance(rate, Decimal) else Decimal(str(rate).strip())
    except (InvalidOperation, ValueError):
        raise PaymentError(errors.FX_RATE_NOT_A_NUMBER.format(value=rate), field="rate") from None
    if not value.is_finite():
        raise PaymentError(errors.FX_RATE_NOT_A_NUMBER.format(value=rate), field="rate")
    if value <= 0:
        raise PaymentError(errors.FX_RATE_NOT_POSITIVE.format(base=base_code, quote=quote_code), field="rate")
    _sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    if -exponent > RATE_PLACES or len(digits) + exponent > RATE_INTEGER_DIGITS:
        raise PaymentError(errors.FX_RATE_DIGITS, field="rate")
    if as_of > timezone.now():
        raise PaymentError(errors.FX_RATE_FUTURE.format(as_of=f"{as_of:%Y-%m-%d %H:%M} UTC"), field="as_of")
    return base_code, quote_code, value


@transaction.atomic
def fx_rate_add(*, base: object, quote: object, rate: object, as_of: datetime, source: str, reason: str = "") -> FxRate:
    """Record a rate (checked as ``fx_rate_clean``; a second rate of the pair at the same moment is
    refused) and its audit event, in one transaction."""
    base_code, quote_code, value = fx_rate_clean(base=base, quote=quote, rate=rate, as_of=as_of)
    fx = FxRate(base=base_code, quote=quote_code, rate=value, as_of=as_of, source=source[:40])
    try:
        with transaction.atomic():
            fx.save()
    except IntegrityError:
        raise PaymentError(
            errors.FX_RATE_EXISTS.format(base=base_code, quote=quote_code, as_of=f"{as_of:%Y-%m-%d %H:%M:%S} UTC"),
            field="as_of",
        ) from None
    audit_record(
        action=AuditAction.FX_RATE_ADDED,
        subject=fx,
        after={
            "pair": f"{base_code}/{quote_code}",
            "rate": str(value),
            "as_of": as_of.isoformat(),
            "source": fx.source,
        },
        reason=reason,
    )
    return fx
