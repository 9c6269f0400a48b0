"""The default risk model, loaded by a data migration into ``kyc.RiskFactor`` (then tuned by
compliance in the admin). Levels: below MEDIUM_FROM low, below HIGH_FROM medium, else high."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import Any

MEDIUM_FROM = 30
HIGH_FROM = 60

DEFAULT_FACTORS = [
    # code, label, points, forces EDD
    ("country_high", "High-risk jurisdiction (residence, nationality or a party's country)", 60, True),
    ("country_monitored", "Jurisdiction under increased monitoring", 25, False),
    ("pep", "Politically exposed person (client or a related party)", 60, True),
    ("complex_structure", "Complex structure (3+ owners, or an owner that is itself a company)", 60, True),
    ("corporate", "Corporate client", 10, False),
    ("source_of_funds_unevidenced", "Source of funds not evidenced", 20, False),
    ("screening_hit", "Open or confirmed sanctions/PEP screening hit", 60, True),
    # the identity verification provider's risk score (0-100) counts for its share of these points
    ("identity_check_risk", "Identity verification: the provider's risk score (its share of these points)", 30, False),
    ("identity_check_exception", "Identity verification failed, or the document does not match the profile", 25, False),
]


def sync_risk_factors(apps: Any) -> None:
    factor = apps.get_model("kyc", "RiskFactor")
    for code, label, points, forces in DEFAULT_FACTORS:
        factor.objects.get_or_create(code=code, defaults={"label": label, "points": points, "forces_edd": forces})


@cache
def jurisdiction_levels() -> dict[str, str]:
    """ISO country -> 'high' | 'medium', from kyc/data/high_risk_jurisdictions.csv."""
    path = Path(__file__).parent / "data" / "high_risk_jurisdictions.csv"
    rows = (line for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {row["country"].upper(): row["level"] for row in csv.DictReader(rows)}
