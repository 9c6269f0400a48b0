"""fx_rate_at: the rate of a pair at a moment (the latest at or before it), the inverse of the
reverse pair's when only that exists, 1 for one currency, and a clear error when there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from payments import errors
from payments.errors import FxRateMissing
from payments.models import FxRate
from payments.selectors import fx_rate_at

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_good_same_currency_is_one_with_no_rate_time() -> None:
    assert fx_rate_at("EUR", "eur", NOON) == (Decimal("1"), None)


def test_good_the_latest_rate_at_or_before_the_moment() -> None:
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.08"), as_of=NOON - timedelta(days=1))
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.09"), as_of=NOON)
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.50"), as_of=NOON + timedelta(seconds=1))
    assert fx_rate_at("EUR", "USD", NOON) == (Decimal("1.09000000"), NOON)
    assert fx_rate_at("EUR", "USD", NOON - timedelta(hours=1)) == (Decimal("1.08000000"), NOON - timedelta(days=1))


def test_good_inverse_of_the_reverse_pair_when_only_it_exists() -> None:
    FxRate.objects.create(base="EUR", quote="GBP", rate=Decimal("0.8"), as_of=NOON - timedelta(hours=2))
    assert fx_rate_at("GBP", "EUR", NOON) == (Decimal("1.25000000"), NOON - timedelta(hours=2))


def test_good_the_direct_pair_wins_over_the_reverse() -> None:
    FxRate.objects.create(base="USD", quote="EUR", rate=Decimal("0.5"), as_of=NOON)
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.1"), as_of=NOON - timedelta(days=3))
    assert fx_rate_at("EUR", "USD", NOON)[0] == Decimal("1.1")


def test_bad_no_rate_by_then_is_a_clear_error() -> None:
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.08"), as_of=NOON + timedelta(days=1))
    with pytest.raises(FxRateMissing) as missing:
        fx_rate_at("EUR", "USD", NOON)
    assert str(missing.value) == errors.FX_RATE_MISSING.format(base="EUR", quote="USD", when=NOON.isoformat())
