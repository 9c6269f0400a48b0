"""The five account types of the pre-launch check (seed 003, "3 to 5 account types configured and
used correctly"). Loaded by a data migration; an admin tunes them afterwards (audited, in history)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ACCOUNT_TYPES = [
    # code, name, currencies, default leverage, max leverage, platform group, minimum deposit, swap-free, corporate only
    ("standard", "Standard", ["USD", "EUR", "GBP"], 100, 500, "real\\standard", Decimal("100"), False, False),
    ("pro", "Pro", ["USD", "EUR", "GBP"], 200, 500, "real\\pro", Decimal("1000"), False, False),
    ("ecn", "ECN", ["USD", "EUR"], 100, 200, "real\\ecn", Decimal("5000"), False, False),
    ("swap_free", "Swap-free", ["USD", "EUR"], 100, 300, "real\\islamic", Decimal("100"), True, False),
    ("corporate", "Corporate", ["USD", "EUR", "GBP", "CHF"], 50, 100, "real\\corporate", Decimal("10000"), False, True),
]


def sync_account_types(apps: Any) -> None:
    account_type = apps.get_model("accounts", "AccountType")
    for code, name, currencies, default, maximum, group, minimum, swap_free, corporate in ACCOUNT_TYPES:
        account_type.objects.get_or_create(
            code=code,
            defaults={
                "name": name, "currencies": currencies, "default_leverage": default, "max_leverage": maximum,
                "platform_group": group, "min_deposit": minimum, "swap_free": swap_free, "corporate_only": corporate,
            },
        )  # fmt: skip
