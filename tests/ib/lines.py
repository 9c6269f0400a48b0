"""Commission lines made directly with the ORM, as the commission engine inserts them (entry
None, pending, ``available_on`` set), for the money and dispute tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ib.models import CommissionLine, LineKind, LineStatus, Partner, PlanVersion
from tests.ib.factories import deal as make_deal


def line(
    partner: Partner | None,
    client: Any,
    amount: str,
    *,
    kind: str = LineKind.DEAL,
    version: PlanVersion | None = None,
    available_on: date | None = None,
    currency: str = "EUR",
    level: int = 0,
    tree: list[int] | None = None,
    **fields: Any,
) -> CommissionLine:
    """A line as the engine writes it: a DEAL or REBATE line gets a deal of its own unless given."""
    if kind in (LineKind.DEAL, LineKind.REBATE) and "deal" not in fields:
        fields["deal"] = make_deal(client)
    today = timezone.localdate()
    return CommissionLine.objects.create(
        kind=kind,
        client=client,
        partner=partner,
        level=-1 if partner is None else level,
        plan_version=version,
        rule=version.rules.first() if version is not None else None,
        earned_on=today - timedelta(days=1),
        base_amount=Decimal(amount),
        base_currency=currency,
        amount=Decimal(amount),
        currency=currency,
        tree=tree if tree is not None else ([partner.pk] if partner is not None else []),
        status=LineStatus.PENDING,
        available_on=available_on or today + timedelta(days=7),
        **fields,
    )
