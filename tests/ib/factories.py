"""Test data of the ib app: a partner tree, symbol groups, a plan with its rules, deals.

Tests set plans and deals up directly with the ORM (the approved plan change and the feed are
tested on their own); everything else goes through services."""

from __future__ import annotations

import hashlib
import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ib.models import (
    CommissionPlan,
    Deal,
    DealBatch,
    FeedSource,
    Partner,
    PartnerPlan,
    PlanRule,
    PlanVersion,
    RuleKind,
    Symbol,
    SymbolGroup,
)
from ops.roles import Role
from tests.factories import staff

_deal_ids = itertools.count(1)

GROUPS = {"fx": ("FX majors", ["EURUSD", "GBPUSD", "USDJPY"]), "metals": ("Metals", ["XAUUSD", "XAGUSD"])}


def tree(*codes: str) -> list[Partner]:
    """A chain of partners, each under the one before: ``tree("A", "B", "C")`` is A → B → C."""
    from ib.services.partners import partner_create

    maker = staff(Role.SUPPORT)
    chain: list[Partner] = []
    for code in codes:
        parent = chain[-1].pk if chain else None
        chain.append(partner_create(name=f"Partner {code}", code=code, parent_id=parent, actor=maker))
    return chain


def symbol_groups() -> dict[str, SymbolGroup]:
    groups = {}
    for code, (name, symbols) in GROUPS.items():
        group, _ = SymbolGroup.objects.get_or_create(code=code, defaults={"name": name})
        for symbol in symbols:
            Symbol.objects.get_or_create(name=symbol, defaults={"group": group})
        groups[code] = group
    return groups


def plan(
    code: str = "STD",
    *,
    currency: str = "EUR",
    valid_from: date | None = None,
    hold_days: int = 7,
    rules: list[dict[str, Any]] | None = None,
) -> PlanVersion:
    """A plan with one version from ``valid_from`` (default: a year ago). Default rule: 8.00 per
    lot on FX majors, split 50/30/20 across three levels."""
    groups = symbol_groups()
    the_plan, _ = CommissionPlan.objects.get_or_create(
        code=code, defaults={"name": f"Plan {code}", "currency": currency, "hold_days": hold_days}
    )
    version = PlanVersion.objects.create(
        plan=the_plan,
        number=the_plan.versions.count() + 1,
        valid_from=valid_from or timezone.localdate() - timedelta(days=365),
    )
    for rule in rules or [{"kind": RuleKind.PER_LOT, "group": "fx", "rate": "8", "tier_shares": ["50", "30", "20"]}]:
        fields = dict(rule)
        group = fields.pop("group", None)
        fields["tier_shares"] = [Decimal(s) for s in fields.get("tier_shares", ["100"])]
        PlanRule.objects.create(version=version, symbol_group=groups[group] if group else None, **fields)
    return version


def follow(partner: Partner, version: PlanVersion, *, valid_from: date | None = None) -> PartnerPlan:
    return PartnerPlan.objects.create(
        partner=partner, plan=version.plan, valid_from=valid_from or timezone.localdate() - timedelta(days=365)
    )


def batch(source: str = FeedSource.PLATFORM) -> DealBatch:
    return DealBatch.objects.create(source=source, raw="{}", sha256="0" * 64, received_by="tests")


def deal(
    client: Any,
    *,
    symbol: str = "EURUSD",
    lots: str = "1.00",
    closed_at: datetime | None = None,
    held: timedelta = timedelta(minutes=30),
    spread: str = "10.00",
    commission: str = "7.00",
    profit: str = "0.00",
    deal_batch: DealBatch | None = None,
    **fields: Any,
) -> Deal:
    """A closed deal on the client's first trading account."""
    account = client.trading_accounts.order_by("id").first()
    closed = closed_at or timezone.now() - timedelta(hours=1)
    deal_id = fields.pop("deal_id", None) or f"T{next(_deal_ids):09d}"
    values = {
        "deal_id": deal_id, "login": account.login or "", "trading_account": account, "client": client,
        "symbol": symbol, "side": fields.pop("side", "buy"), "lots": Decimal(lots), "opened_at": closed - held,
        "closed_at": closed, "spread": Decimal(spread), "commission": Decimal(commission),
        "swap": Decimal(fields.pop("swap", "0")), "profit": Decimal(profit), "currency": account.currency,
    }  # fmt: skip
    fingerprint = hashlib.sha256(repr(sorted((k, str(v)) for k, v in values.items())).encode()).hexdigest()
    return Deal.objects.create(batch=deal_batch or batch(), fingerprint=fingerprint, **values, **fields)
