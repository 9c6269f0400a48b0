"""How urgent a work item is, so the most urgent is on top without anyone sorting by hand.

An item's *urgency time* is its SLA due time brought forward by its risk level and by the money
at stake: a critical item due in 30 hours ranks with a low-risk item due in 6. Sorting by that
one stored column is index-friendly and stays right as time passes (every item's deadline moves
closer at the same rate). The P1-P4 label is the urgency time seen from now.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from ops.models import RiskLevel

RISK_CREDIT = {
    RiskLevel.LOW: timedelta(0),
    RiskLevel.MEDIUM: timedelta(hours=2),
    RiskLevel.HIGH: timedelta(hours=8),
    RiskLevel.CRITICAL: timedelta(hours=24),
}
MONEY_CREDIT_PER_DECADE = timedelta(hours=2)  # per 10x above 1,000
MONEY_CREDIT_CAP = timedelta(hours=12)

# Label thresholds on (urgency time - now).
PRIORITY_BANDS: list[tuple[str, timedelta | None]] = [
    ("P1", timedelta(hours=1)),  # overdue or nearly so, once risk and money are counted
    ("P2", timedelta(hours=4)),
    ("P3", timedelta(hours=24)),
    ("P4", None),
]


def credit(*, risk_level: str, amount: Decimal) -> timedelta:
    money = timedelta(0)
    if amount > 1000:
        decades = math.log10(float(amount) / 1000)  # a ranking weight, not money arithmetic
        money = min(MONEY_CREDIT_PER_DECADE * decades, MONEY_CREDIT_CAP)
    return RISK_CREDIT[RiskLevel(risk_level)] + money


def urgency_at(*, due_at: datetime | None, risk_level: str, amount: Decimal) -> datetime | None:
    """None while the SLA clock is paused: such items sort last."""
    if due_at is None:
        return None
    return due_at - credit(risk_level=risk_level, amount=amount)


def priority_label(urgency: datetime | None, now: datetime) -> str:
    if urgency is None:
        return "P4"
    remaining = urgency - now
    for label, limit in PRIORITY_BANDS:
        if limit is None or remaining <= limit:
            return label
    return "P4"


def priority_range(label: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The urgency-time interval (after, before] that a label covers, for filtering in SQL
    (None: unbounded on that side; the last band also holds paused items)."""
    lower: datetime | None = None
    for name, limit in PRIORITY_BANDS:
        upper = now + limit if limit is not None else None
        if name == label:
            return lower, upper
        lower = upper
    raise ValueError(label)
