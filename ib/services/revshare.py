"""Revenue share: ``rate`` % of the broker's net revenue from a partner's clients per calendar month.

The net revenue of a deal is what the broker kept: its commission and spread, less the client's
profit and the swap paid to the client (a negative profit or swap is the broker's gain), converted
to the plan's currency at the rate in force at the close. Bonuses are not modelled in this back
office yet, so none are deducted. A deal counts for the partner that introduced the client at the
close. Losses are carried forward: a month pays ``rate`` % of the month's net plus the losses
carried from the months before, and only once that sum is positive (then the carry is cleared).

The partner's plan and version are those in force on the month's last day; the amount is split
across the partner levels by ``tier_shares`` exactly as a pool (``split_pool``). Only months that
lie wholly inside a run's period are paid.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.utils import timezone

from ib.models import CommissionLine, CommissionRun, LineKind, Partner, PartnerPlan, PlanRule, RuleKind
from ib.services.commissions import CENT, HUNDRED, fx_lateral, split_pool

MONTHLY_NET_SQL = (
    """
SELECT a.partner_id, date_trunc('month', d.closed_at AT TIME ZONE %(tz)s)::date AS month,
       sum((d.commission + d.spread - d.profit - d.swap)
           * CASE WHEN d.currency = %(currency)s THEN 1 ELSE fx.rate END) AS net,
       count(*) FILTER (WHERE d.currency <> %(currency)s AND fx.rate IS NULL) AS unconverted
FROM ib_deal d
JOIN ib_attribution a ON a.client_id = d.client_id AND a.valid_from <= d.closed_at
                     AND (a.valid_to IS NULL OR a.valid_to > d.closed_at)
LEFT JOIN LATERAL {fx} fx ON d.currency <> %(currency)s
WHERE a.partner_id = %(partner_id)s AND d.closed_at < %(until)s
GROUP BY 1, 2
"""
).replace("{fx}", fx_lateral("d.currency", "%(currency)s", "d.closed_at"))


@dataclass(frozen=True)
class MonthShare:
    month: date
    net: Decimal
    carried_in: Decimal  # losses carried from the months before (zero or negative)
    base: Decimal  # what the rate applies to: net + carried_in when positive, else zero


def months_in(start: date, end: date) -> list[date]:
    """First days of the calendar months lying wholly inside ``start``..``end``."""
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    months: list[date] = []
    while True:
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if last > end:
            return months
        months.append(first)
        first = last + timedelta(days=1)


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def revshare_months(*, partner: Partner, currency: str, until: date) -> list[MonthShare]:
    """The partner's monthly net revenue in ``currency`` up to the month of ``until``, with the carry."""
    end = timezone.make_aware(datetime.combine(_month_end(until) + timedelta(days=1), time.min))
    with connection.cursor() as cursor:
        cursor.execute(
            MONTHLY_NET_SQL,
            {"tz": timezone.get_current_timezone_name(), "currency": currency, "partner_id": partner.pk, "until": end},
        )
        nets = {
            month: (net or Decimal("0")).quantize(CENT, rounding=ROUND_HALF_UP)
            for _, month, net, _ in cursor.fetchall()
        }
    result = []
    carry = Decimal("0.00")
    for month in sorted(nets):
        balance = nets[month] + carry
        result.append(MonthShare(month=month, net=nets[month], carried_in=carry, base=max(balance, Decimal("0.00"))))
        carry = min(balance, Decimal("0.00"))
    return result


def revshare_lines_write(*, run: CommissionRun, partner: Partner) -> int:
    """Write the partner's revenue share lines for the complete months of the run's period that are
    missing (composable). The number of lines written."""
    written = 0
    months = months_in(run.period_start, run.period_end)
    if not months:
        return 0
    plans: dict[date, tuple[PartnerPlan, PlanRule]] = {}
    for month in months:
        last = _month_end(month)
        follows = (
            PartnerPlan.objects.select_related("plan")
            .filter(partner=partner, valid_from__lte=last)
            .exclude(valid_to__lte=last)
            .first()
        )
        if follows is None:
            continue
        rule = (
            PlanRule.objects.select_related("version")
            .filter(version__plan=follows.plan, version__valid_from__lte=last, kind=RuleKind.REVSHARE)
            .exclude(version__valid_to__lte=last)
            .first()
        )
        if rule is not None:
            plans[month] = (follows, rule)
    if not plans:
        return 0
    tree = [partner.pk, *reversed([a.pk for a in Partner.objects.get_ancestors(partner)])]
    by_currency: dict[str, list[date]] = defaultdict(list)
    for month, (follows, _) in plans.items():
        by_currency[follows.plan.currency].append(month)
    now = timezone.now()
    for currency, wanted in by_currency.items():
        shares = {m.month: m for m in revshare_months(partner=partner, currency=currency, until=max(wanted))}
        for month in wanted:
            share = shares.get(month)
            if share is None or share.base <= 0:
                continue
            follows, rule = plans[month]
            amount = (share.base * rule.rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
            split = split_pool(
                amount, tier_shares=rule.tier_shares, tree_size=len(tree), client_rebate_pct=Decimal("0")
            )
            last = _month_end(month)
            for level, part in enumerate(split.levels):
                if part <= 0:
                    continue
                with transaction.atomic():
                    _, created = CommissionLine.objects.get_or_create(
                        kind=LineKind.REVSHARE, partner_id=tree[level], period=month, plan_version=rule.version,
                        tree=tree,
                        defaults={
                            "run": run, "level": level, "rule": rule, "earned_on": last, "base_amount": share.base,
                            "base_currency": currency, "amount": part, "currency": currency,
                            "available_on": last + timedelta(days=follows.plan.hold_days), "created_at": now,
                        },
                    )  # fmt: skip
                written += created
    return written
