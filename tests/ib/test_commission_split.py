"""The split of a pool across the client and the partner levels: its parts always add up to the
pool exactly, and the engine's SQL splits exactly as ``split_pool`` does (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ib.models import Partner
from ib.services.commissions import SPLIT_SQL, split_pool
from tests.ib.factories import tree

pools = st.integers(min_value=0, max_value=10**11).map(lambda cents: Decimal(cents) / 100)
percents = st.integers(min_value=0, max_value=1_000_000).map(lambda n: Decimal(n) / 10_000)


@st.composite
def tier_shares(draw: st.DrawFn) -> list[Decimal]:
    """1 to 6 shares in percent with 4 decimals, summing to 100 (or, sometimes, less)."""
    count = draw(st.integers(min_value=1, max_value=6))
    total = draw(st.sampled_from([1_000_000, 1_000_000, draw(st.integers(min_value=0, max_value=1_000_000))]))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=total), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, total]
    return [Decimal(bounds[i + 1] - bounds[i]) / 10_000 for i in range(count)]


@given(pool=pools, shares=tier_shares(), size=st.integers(min_value=1, max_value=8), rebate=percents)
def test_split_pool_always_adds_up_to_the_pool(
    pool: Decimal, shares: list[Decimal], size: int, rebate: Decimal
) -> None:
    split = split_pool(pool, tier_shares=shares, tree_size=size, client_rebate_pct=rebate)
    assert split.total == pool
    assert all(part >= 0 and part == part.quantize(Decimal("0.01")) for part in [split.rebate, *split.levels])
    assert len(split.levels) == max(1, min(len(shares), size))


SPLIT_ONE = (
    "WITH capped AS (SELECT 1::bigint AS id, 0::bigint AS version_id, 0::bigint AS group_id,"
    " %(partner)s::bigint AS partner_id, %(shares)s::numeric[] AS tier_shares,"
    " %(rebate)s::numeric AS client_rebate_pct, %(pool)s::numeric AS pool)"
    + SPLIT_SQL
    + "SELECT lvl, beneficiary, amount FROM lines ORDER BY lvl"
)


def _chain() -> list[Partner]:
    found = list(Partner.objects.filter(code__startswith="HYP").order_by("depth"))
    return found or tree(*(f"HYP{i}" for i in range(1, 9)))


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=pools, shares=tier_shares(), size=st.integers(min_value=1, max_value=8), rebate=percents)
def test_the_sql_splits_as_split_pool(pool: Decimal, shares: list[Decimal], size: int, rebate: Decimal) -> None:
    chain = _chain()
    introducing = chain[size - 1]  # a tree of ``size`` partners: it and those above it
    with connection.cursor() as cursor:
        cursor.execute(
            SPLIT_ONE,
            {"partner": introducing.pk, "shares": shares, "rebate": rebate, "pool": pool, "steplen": Partner.steplen},
        )
        rows = cursor.fetchall()
    split = split_pool(pool, tier_shares=shares, tree_size=size, client_rebate_pct=rebate)
    expected = [(-1, None, split.rebate)] + [
        (level, chain[size - 1 - level].pk, amount) for level, amount in enumerate(split.levels)
    ]
    # the lines written: those with an amount (a zero pool, share or rebate writes none)
    assert [row for row in rows if row[2] > 0] == [row for row in expected if row[2] > 0]
    assert sum(amount for _, _, amount in rows) == pool
