"""The starting withdrawal approval policy per currency, loaded by a data migration (admins change
it afterwards through maker-checker; its history keeps every version)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

POLICIES = {
    # currency: minimum, maximum, auto-approve up to, compliance above, velocity amount per 24 h
    "USD": ("10", "250000", "1000", "10000", "20000"),
    "EUR": ("10", "250000", "1000", "10000", "20000"),
    "GBP": ("10", "200000", "800", "8000", "16000"),
    "CHF": ("10", "250000", "1000", "10000", "20000"),
    "AUD": ("15", "350000", "1500", "15000", "30000"),
    "CAD": ("15", "350000", "1400", "14000", "28000"),
    "JPY": ("1500", "35000000", "150000", "1500000", "3000000"),
    "KWD": ("3", "75000", "300", "3000", "6000"),
}


def sync_policies(apps: Any) -> None:
    """Create the policies that do not exist yet (existing ones are left as approved)."""
    policy = apps.get_model("payments", "WithdrawalPolicy")
    for currency, (minimum, maximum, auto, compliance, velocity) in POLICIES.items():
        policy.objects.get_or_create(
            currency=currency,
            defaults={
                "minimum": Decimal(minimum),
                "maximum": Decimal(maximum),
                "auto_approve_max": Decimal(auto),
                "compliance_above": Decimal(compliance),
                "velocity_amount_24h": Decimal(velocity),
            },
        )
