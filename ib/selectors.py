"""Reads of partners and attributions, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from ib import errors
from ib.models import Attribution, CommissionLine, CommissionRun, Deal, DealBatch, LineKind, Partner, Statement
from ops.models import User, WorkItem
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


# --- the trade feed ------------------------------------------------------------------------------


def deal_list() -> QuerySet[Deal]:
    """Deals, the latest closed first, with the names their pages show."""
    return Deal.objects.select_related("client", "trading_account__account_type", "batch").order_by("-closed_at", "-id")


def deal_get_for(actor: User, deal_id: str) -> Deal:
    """The deal (by the platform's deal id), for someone who may see partners' data (else 404)."""
    if not partner_can_view(actor):
        raise Http404
    deal = deal_list().filter(deal_id=str(deal_id)[:40]).first()
    if deal is None:
        raise Http404
    return deal


def deal_commission_lines(deal: Deal) -> QuerySet[CommissionLine]:
    return deal.commission_lines.select_related("partner", "plan_version__plan", "rule").order_by("level", "id")


def deal_batch_list() -> QuerySet[DealBatch]:
    """Batches, the latest first (without their raw text)."""
    return DealBatch.objects.defer("raw").order_by("-received_at", "-id")


def deal_batch_get_for(actor: User, batch_id: Any) -> DealBatch:
    if not partner_can_view(actor):
        raise Http404
    try:
        return DealBatch.objects.defer("raw").get(pk=int(batch_id))
    except (DealBatch.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def deal_batch_work_item(batch: DealBatch) -> WorkItem | None:
    """The trade feed exception the batch's refusals opened (the latest one), if any."""
    return (
        WorkItem.objects.filter(
            queue__code="trade_feed_exception",
            subject_type=ContentType.objects.get_for_model(DealBatch),
            subject_id=str(batch.pk),
        )
        .order_by("-id")
        .first()
    )


# --- commission plans ----------------------------------------------------------------------------


def plan_list() -> list[Any]:
    """Every plan with its version in force today (or none) and how many partners follow it today."""
    from datetime import date as date_type

    from ib.models import CommissionPlan, PartnerPlan, PlanVersion

    today: date_type = timezone.localdate()
    plans: list[Any] = list(CommissionPlan.objects.order_by("name"))
    in_force = {
        v.plan_id: v
        for v in PlanVersion.objects.filter(valid_from__lte=today).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=today)
        )
    }
    upcoming: dict[int, Any] = {}
    for v in PlanVersion.objects.filter(valid_from__gt=today).order_by("valid_from"):
        upcoming.setdefault(v.plan_id, v)
    following = dict(
        PartnerPlan.objects.filter(valid_from__lte=today)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=today))
        .values_list("plan_id")
        .annotate(n=Count("id"))
        .values_list("plan_id", "n")
    )
    for plan in plans:
        plan.current_version = in_force.get(plan.pk)
        plan.next_version = upcoming.get(plan.pk)
        plan.partners_now = following.get(plan.pk, 0)
    return plans


def plan_get_for(actor: User, plan_id: Any) -> Any:
    """The plan, for someone who may see partners (else 404)."""
    from ib.models import CommissionPlan

    if not partner_can_view(actor):
        raise Http404
    try:
        return CommissionPlan.objects.get(pk=int(plan_id))
    except (CommissionPlan.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def plan_versions(plan: Any) -> list[Any]:
    """The plan's versions, newest first, each with its rules (``rules_in_words``) and whether it is
    in force today, ended or still to come."""
    from ib.models import PlanVersion

    today = timezone.localdate()
    versions: list[Any] = list(
        PlanVersion.objects.filter(plan=plan).select_related("approval").prefetch_related("rules__symbol_group")
        .order_by("-number")
    )  # fmt: skip
    for v in versions:
        v.rules_in_words = [rule_in_words(r, plan.currency) for r in v.rules.all()]
        if v.valid_from > today:
            v.state = "upcoming"
        elif v.valid_to is not None and v.valid_to <= today:
            v.state = "ended"
        else:
            v.state = "in force"
    return versions


def plan_followers(plan: Any) -> list[Any]:
    """Who follows ``plan`` now or from a date to come."""
    from ib.models import PartnerPlan

    today = timezone.localdate()
    return list(
        PartnerPlan.objects.select_related("partner").filter(plan=plan)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=today)).order_by("partner__name")
    )  # fmt: skip


def partner_plan_history(partner: Partner) -> list[Any]:
    from ib.models import PartnerPlan

    return list(PartnerPlan.objects.select_related("plan", "approval").filter(partner=partner).order_by("-valid_from"))


def _field(rule: Any, name: str) -> Any:
    return rule.get(name) if isinstance(rule, dict) else getattr(rule, name)


def _dec(value: Any) -> Any:
    from decimal import Decimal

    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _pct(value: Any) -> str:
    return f"{format(_dec(value).normalize(), 'f')}%"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def rule_in_words(rule: Any, currency: str) -> str:
    """A rule (a ``PlanRule`` or a rule of a proposal's payload) in words: "8.00 EUR per lot on FX
    majors, split 50/30/20, 10% back to the client, capped at 20.00 EUR per trade"."""
    from ib.models import RuleKind, SymbolGroup
    from payments.currencies import money_str

    kind = _field(rule, "kind")
    group = _field(rule, "symbol_group")
    if isinstance(group, str):
        group = SymbolGroup.objects.filter(code=group).first() if group else None
    on = f" on {group.name}" if group is not None else ""
    rate = _dec(_field(rule, "rate"))

    def money(value: Any) -> str:
        return money_str(_dec(value), currency)

    if kind == RuleKind.PER_LOT:
        text = f"{money(rate)} per lot{on}"
    elif kind == RuleKind.SPREAD_PCT:
        text = f"{_pct(rate)} of the spread{on}"
    elif kind == RuleKind.COMMISSION_PCT:
        text = f"{_pct(rate)} of the broker's commission{on}"
    elif kind == RuleKind.CPA:
        text = (
            f"{money(rate)} once per client who first deposits at least {money(_field(rule, 'cpa_min_deposit'))} "
            f"and trades {format(_dec(_field(rule, 'cpa_min_lots')).normalize(), 'f')} lots within "
            f"{_field(rule, 'cpa_days')} days of approval"
        )
    elif kind == RuleKind.REVSHARE:
        text = f"{_pct(rate)} of the broker's monthly net revenue from the partner's clients (losses carried forward)"
    else:
        text = f"{kind} {rate}"
    shares = [_dec(s) for s in _field(rule, "tier_shares") or []]
    if len(shares) == 1:
        text += ", all to the introducing partner"
    elif shares:
        text += ", split " + "/".join(format(s.normalize(), "f") for s in shares)
    rebate = _dec(_field(rule, "client_rebate_pct"))
    if rebate:
        text += f", {_pct(rebate)} back to the client"
    caps = [
        f"{money(value)} {label}"
        for name, label in (("cap_per_trade", "per trade"), ("cap_per_day", "per client and day"),
                            ("cap_per_client", "per client and month"))
        if (value := _dec(_field(rule, name))) is not None
    ]  # fmt: skip
    if caps:
        text += ", capped at " + ", ".join(caps)
    hold = int(_field(rule, "min_hold_seconds") or 0)
    if hold:
        text += f", nothing for deals held under {_duration(hold)}"
    return text


def last_full_month(today: Any = None) -> tuple[Any, Any]:
    """The first and last day of the calendar month before ``today``'s."""
    from datetime import timedelta

    today = today or timezone.localdate()
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def plan_change_comparison(plan: Any, rules: list[dict[str, Any]], *, today: Any = None) -> dict[str, Any]:
    """What ``rules`` would have paid over the last full calendar month next to what ``plan`` did
    pay (the commission lines written), per partner and in total, with the difference. Computed
    when asked (the approval page): deals and lines of that month may still arrive until a checker
    looks, and the month is the one before the day the checker decides."""
    from decimal import Decimal

    from ib.services.commissions import commission_paid, commission_preview

    start, end = last_full_month(today)
    would = commission_preview(plan=plan, rules=rules, start=start, end=end)
    did = commission_paid(plan=plan, start=start, end=end)
    zero = Decimal("0.00")
    found = Partner.objects.in_bulk(list(set(would.by_partner) | set(did.by_partner)))
    rows = [
        {"partner": partner, "would": would.by_partner.get(pk, zero), "did": did.by_partner.get(pk, zero),
         "difference": would.by_partner.get(pk, zero) - did.by_partner.get(pk, zero)}
        for pk, partner in found.items()
    ]  # fmt: skip
    rows.sort(key=lambda r: (r["partner"].name, r["partner"].pk))
    return {
        "plan": plan,
        "currency": plan.currency,
        "start": start,
        "end": end,
        "computed_at": timezone.now(),
        "rows": rows,
        "rebates": {"would": would.rebates, "did": did.rebates, "difference": would.rebates - did.rebates},
        "total": {"would": would.total, "did": did.total, "difference": would.total - did.total},
        "deals": {"would": would.deals, "did": did.deals},
    }


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


# --- the partner API: what a partner sees of its own business ------------------------------------


def partner_api_can_use(actor: Any) -> Decision:
    """Call the partner API: the caller is a partner's API key (``ops.api.ApiCaller`` whose owner
    is the partner). A staff session or another kind of key is refused."""
    if not isinstance(getattr(actor, "owner", None), Partner):
        return deny(errors.PARTNER_API_ONLY)
    return ALLOWED


def partner_subtree(partner: Partner) -> QuerySet[Partner]:
    """``partner`` and every partner below it (one indexed query on the materialised path)."""
    return Partner.objects.filter(path__startswith=partner.path)


def partner_subpartners(partner: Partner) -> QuerySet[Partner]:
    """The partners below ``partner``, in tree order (a parent before its children)."""
    return partner_subtree(partner).filter(depth__gt=partner.depth).order_by("path")


def partner_clients_visible_to(partner: Partner) -> QuerySet[Attribution]:
    """The one scope of the partner API's clients: each client attributed *now* to ``partner`` or
    to a partner below it, as its attribution (one per client: attributions never overlap). The
    list and the detail both read it, so a client outside it does not exist for the partner."""
    now = timezone.now()
    return (
        Attribution.objects.select_related("client", "partner")
        .filter(partner__path__startswith=partner.path, valid_from__lte=now)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
    )


def partner_client_get_for(partner: Partner, reference: str) -> Attribution:
    """One client of ``partner`` (or of a partner below it) by its reference, else 404."""
    attribution = partner_clients_visible_to(partner).filter(client__reference=str(reference)[:20]).first()
    if attribution is None:
        raise Http404("No such client.")
    return attribution


PARTNER_RECORDS_NOTE = (
    "The referring partner's own records about this client, kept with the case (not sent to the payment "
    "provider): who introduced the client when the deposit was paid, the commission plan and the version of "
    "its terms the partner followed that day, and every commission line about the client, the clawback the "
    "chargeback made and any restore included."
)
PARTNER_RECORDS_LINES = 500


def _line_record(line: CommissionLine, deposit: Any) -> dict[str, Any]:
    version = line.plan_version
    return {
        "line": line.pk, "kind": line.get_kind_display(),
        "partner": line.partner.name if line.partner else "(the client's rebate)", "level": line.level,
        "plan_version": f"{version.plan.name} v{version.number}" if version else None,
        "earned_on": line.earned_on.isoformat(), "amount": str(line.amount), "currency": line.currency,
        "status": line.get_status_display(), "reverses": line.reverses_id,
        "deal": line.deal.deal_id if line.deal else None,
        "qualifying_deposit": line.qualifying_deposit.reference if line.qualifying_deposit else None,
        "about_this_deposit": line.qualifying_deposit_id == deposit.pk, "entry": line.entry_id,
    }  # fmt: skip


def partner_records_for_deposit(deposit: Any) -> tuple[str, dict[str, Any]]:
    """A chargeback's internal records (registered with payments' case record sections): the
    partner who referred the client when the disputed deposit was paid (else the one now), the plan
    it followed and the plan version (its terms) in force that day, and the client's commission lines
    (the first ``PARTNER_RECORDS_LINES``, oldest first) with the totals per kind."""
    from ib.models import PartnerPlan, PlanVersion

    when = deposit.completed_at or deposit.created_at
    attribution = attribution_at(deposit.client_id, when) or attribution_at(deposit.client_id)
    lines = CommissionLine.objects.filter(client_id=deposit.client_id)
    shown = list(
        lines.select_related("partner", "plan_version__plan", "deal", "qualifying_deposit").order_by("earned_on", "id")[
            :PARTNER_RECORDS_LINES
        ]
    )
    totals = [
        {"kind": LineKind(row["kind"]).label, "currency": row["currency"], "lines": row["n"], "amount": str(row["total"])}
        for row in lines.values("kind", "currency").annotate(n=Count("id"), total=Sum("amount")).order_by("kind", "currency")
    ]  # fmt: skip
    partner: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    if attribution is not None:
        p = attribution.partner
        partner = {
            "id": p.pk, "name": p.name, "code": p.code, "status": p.get_status_display(),
            "attributed_from": attribution.valid_from.isoformat(),
            "attributed_to": attribution.valid_to.isoformat() if attribution.valid_to else None,
            "source": attribution.get_source_display(), "campaign": attribution.campaign,
            "at_the_deposit": attribution.valid_from <= when
            and (attribution.valid_to is None or attribution.valid_to > when),
        }  # fmt: skip
        day = timezone.localdate(when)
        follows = (
            PartnerPlan.objects.select_related("plan")
            .filter(partner=p, valid_from__lte=day)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
            .first()
        )
        if follows is not None:
            version = (
                PlanVersion.objects.filter(plan=follows.plan, valid_from__lte=day)
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
                .first()
            )
            plan = {
                "name": follows.plan.name, "code": follows.plan.code, "currency": follows.plan.currency,
                "hold_days": follows.plan.hold_days, "followed_from": follows.valid_from.isoformat(),
                "followed_to": follows.valid_to.isoformat() if follows.valid_to else None, "on": day.isoformat(),
                "version": version.number if version else None,
                "version_from": version.valid_from.isoformat() if version else None,
                "version_to": version.valid_to.isoformat() if version and version.valid_to else None,
                "version_note": version.note if version else "",
                "version_approval": version.approval_id if version else None,
            }  # fmt: skip
    return (
        "partner_records",
        {
            "note": PARTNER_RECORDS_NOTE,
            "partner": partner,
            "plan": plan,
            "commission_lines": [_line_record(line, deposit) for line in shown],
            "lines_total": lines.count(),
            "totals": totals,
        },
    )


def deals_after_deposit(deposit: Any) -> tuple[str, list[dict[str, Any]]]:
    """The client's closed deals since a deposit (the "later trading" of a chargeback's evidence
    pack: the cardholder traded with the money they dispute). Registered with payments' hooks."""
    from ib.models import Deal

    since = deposit.completed_at or deposit.created_at
    deals = Deal.objects.filter(client_id=deposit.client_id, opened_at__gte=since).order_by("opened_at", "id")[:500]
    return (
        "later_trading",
        [
            {
                "deal": d.deal_id,
                "login": d.login,
                "symbol": d.symbol,
                "side": d.side,
                "lots": str(d.lots),
                "opened_at": d.opened_at.isoformat(),
                "closed_at": d.closed_at.isoformat(),
                "profit": str(d.profit),
                "currency": d.currency,
            }
            for d in deals
        ],
    )
