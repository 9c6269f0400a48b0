"""Reads of partners and attributions, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from ib import errors
from ib.models import Attribution, CommissionLine, CommissionRun, Deal, LineKind, Partner, Statement
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny


def partner_can_view(actor: User) -> Decision:
    """See the partner list, a partner's page, and who introduced a client."""
    if not actor.is_authenticated or not actor.has_perm("ops.view_partners"):
        return deny(errors.NOT_ALLOWED_VIEW)
    return ALLOWED


def partner_list(*, q: str = "") -> QuerySet[Partner]:
    """Every partner in tree order (a parent before its children), with its current client count."""
    now = timezone.now()
    current = Q(attributions__valid_from__lte=now) & (
        Q(attributions__valid_to__isnull=True) | Q(attributions__valid_to__gt=now)
    )
    partners = Partner.objects.annotate(clients_now=Count("attributions", filter=current)).order_by("path")
    if q.strip():
        term = q.strip()
        partners = partners.filter(Q(name__icontains=term) | Q(code__iexact=term))
    return partners


def partner_get_for(actor: User, partner_id: Any) -> Partner:
    """The partner, for someone who may see partners (else 404: the page does not exist for them)."""
    if not partner_can_view(actor):
        raise Http404
    try:
        return Partner.objects.select_related("client").get(pk=int(partner_id))
    except (Partner.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def attribution_at(client: Any, when: datetime | None = None) -> Attribution | None:
    """The attribution of ``client`` in force at ``when`` (now by default): one or none."""
    when = when or timezone.now()
    return (
        Attribution.objects.select_related("partner")
        .filter(client=client, valid_from__lte=when)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))
        .first()
    )


def attribution_history(client: Any) -> QuerySet[Attribution]:
    return Attribution.objects.select_related("partner", "approval").filter(client=client).order_by("-valid_from")


def partner_clients(partner: Partner) -> QuerySet[Attribution]:
    """The clients attributed to ``partner`` now, or from a date still to come."""
    now = timezone.now()
    return (
        Attribution.objects.select_related("client")
        .filter(partner=partner)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
        .order_by("client__last_name", "client__first_name", "client__legal_name")
    )


def partner_by_code(code: str) -> Partner | None:
    return Partner.objects.filter(code__iexact=(code or "").strip()).first()


# --- commission runs: the deals that earned nothing ----------------------------------------------

UNEARNED_REASONS = {
    "no_attribution": "No partner had introduced the client at the deal's close",
    "no_plan": "The introducing partner followed no plan that day",
    "no_version": "The partner's plan had no version in force that day",
    "no_group": "The symbol is in no symbol group",
    "no_rule": "The plan version has no rule for the symbol's group",
    "short_hold": "Held less than the rule's minimum",
    "no_fx": "No FX rate to the plan's currency at the close",
    "nothing_left": "The pool was zero or the client's caps were reached",
}

DEALS_UNEARNED_SQL = """
SELECT x.id, x.reason FROM (
    SELECT d.id, d.closed_at,
           CASE WHEN a.partner_id IS NULL THEN 'no_attribution'
                WHEN pp.plan_id IS NULL THEN 'no_plan'
                WHEN v.id IS NULL THEN 'no_version'
                WHEN s.group_id IS NULL THEN 'no_group'
                WHEN r.id IS NULL THEN 'no_rule'
                WHEN d.closed_at - d.opened_at < make_interval(secs => r.min_hold_seconds) THEN 'short_hold'
                WHEN d.currency <> pl.currency AND NOT EXISTS (
                    SELECT 1 FROM payments_fxrate f
                    WHERE ((f.base = d.currency AND f.quote = pl.currency) OR (f.base = pl.currency AND f.quote = d.currency))
                      AND f.as_of <= d.closed_at) THEN 'no_fx'
                ELSE 'nothing_left' END AS reason
    FROM ib_deal d
    LEFT JOIN ib_attribution a ON a.client_id = d.client_id AND a.valid_from <= d.closed_at
                              AND (a.valid_to IS NULL OR a.valid_to > d.closed_at)
    LEFT JOIN ib_partnerplan pp ON pp.partner_id = a.partner_id
         AND pp.valid_from <= (d.closed_at AT TIME ZONE %(tz)s)::date
         AND (pp.valid_to IS NULL OR pp.valid_to > (d.closed_at AT TIME ZONE %(tz)s)::date)
    LEFT JOIN ib_commissionplan pl ON pl.id = pp.plan_id
    LEFT JOIN ib_planversion v ON v.plan_id = pp.plan_id
         AND v.valid_from <= (d.closed_at AT TIME ZONE %(tz)s)::date
         AND (v.valid_to IS NULL OR v.valid_to > (d.closed_at AT TIME ZONE %(tz)s)::date)
    LEFT JOIN ib_symbol s ON s.name = d.symbol
    LEFT JOIN ib_planrule r ON r.version_id = v.id AND r.symbol_group_id = s.group_id
         AND r.kind IN ('per_lot', 'spread_pct', 'commission_pct')
    WHERE d.closed_at >= %(period_from)s AND d.closed_at < %(period_to)s
      AND NOT EXISTS (SELECT 1 FROM ib_commissionline l WHERE l.deal_id = d.id AND l.kind IN ('deal', 'rebate'))
) x
ORDER BY x.closed_at, x.id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class UnearnedDeal:
    deal: Deal
    reason: str  # a key of UNEARNED_REASONS

    @property
    def reason_text(self) -> str:
        return UNEARNED_REASONS[self.reason]


def deals_unearned(period_start: date, period_end: date, *, limit: int = 1000) -> list[UnearnedDeal]:
    """The deals closed from ``period_start`` to ``period_end`` (inclusive) that earned no
    commission, each with the first reason found (in the order of ``UNEARNED_REASONS``), oldest
    first: the recalculation's list for review."""
    tz = timezone.get_current_timezone()
    params: dict[str, Any] = {
        "tz": timezone.get_current_timezone_name(),
        "period_from": timezone.make_aware(datetime.combine(period_start, time.min), tz),
        "period_to": timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min), tz),
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(DEALS_UNEARNED_SQL, params)
        rows = cursor.fetchall()
    deals = Deal.objects.select_related("client").in_bulk([pk for pk, _ in rows])
    return [UnearnedDeal(deal=deals[pk], reason=reason) for pk, reason in rows]


def commission_runs_list() -> QuerySet[CommissionRun]:
    return CommissionRun.objects.order_by("-created_at", "-id")


def commission_run_get(run_id: Any) -> CommissionRun:
    try:
        return CommissionRun.objects.get(pk=int(run_id))
    except (CommissionRun.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def run_statements(run: CommissionRun) -> QuerySet[Statement]:
    """The statements of the run's period (the latest issued per partner and currency first)."""
    return (
        Statement.objects.select_related("partner")
        .filter(period_start=run.period_start, period_end=run.period_end)
        .order_by("partner__name", "currency", "-issued_at", "-id")
    )


def run_figures(run: CommissionRun) -> dict[str, Any]:
    """Lines, beneficiaries and totals per currency and kind written by the run."""
    rows = (
        CommissionLine.objects.filter(run=run)
        .values("currency", "kind")
        .annotate(lines=Count("id"), total=Sum("amount"))
        .order_by("currency", "kind")
    )
    return {
        "by_kind": [{**row, "label": LineKind(row["kind"]).label} for row in rows],
        "partners": CommissionLine.objects.filter(run=run).values("partner").distinct().count(),
    }
