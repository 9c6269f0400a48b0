"""Reads of commission lines (with their full derivation), disputes and partner payables, scoped
to who may see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ib.models import CommissionLine, Dispute, DisputeStatus, Partner, PlanRule, RuleKind
from ib.selectors import partner_can_view
from ops.models import User
from payments.models import JournalEntry


def commission_line_get_for(actor: User, line_id: Any) -> CommissionLine:
    """A statement line for someone who may see partners (else 404)."""
    if not partner_can_view(actor):
        raise Http404
    try:
        return CommissionLine.objects.select_related(
            "deal", "client", "partner", "plan_version__plan", "rule__symbol_group", "entry", "reverses", "run",
            "qualifying_deposit", "dispute",
        ).get(pk=int(line_id))  # fmt: skip
    except (CommissionLine.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def dispute_get_for(actor: User, reference: str) -> Dispute:
    if not partner_can_view(actor):
        raise Http404
    dispute = (
        Dispute.objects.select_related("partner", "line", "deal", "work_item__queue", "approval")
        .filter(reference=str(reference)[:20])
        .first()
    )
    if dispute is None:
        raise Http404
    return dispute


def disputes_open() -> QuerySet[Dispute]:
    """Open disputes (and those waiting for an adjustment's approval), the most urgent first."""
    return (
        Dispute.objects.select_related("partner", "line", "deal", "work_item__queue")
        .exclude(status=DisputeStatus.RESOLVED)
        .order_by("work_item__due_at", "created_at")
    )


def disputes_recently_resolved(limit: int = 20) -> QuerySet[Dispute]:
    return (
        Dispute.objects.select_related("partner").filter(status=DisputeStatus.RESOLVED).order_by("-resolved_at")[:limit]
    )


def rule_in_words(rule: PlanRule | None, level: int) -> str:
    """What the rule pays, as the partner's agreement says it."""
    if rule is None:
        return "No plan rule (an adjustment or clawback)."
    kind = RuleKind(rule.kind)
    group = f" on {rule.symbol_group.name}" if rule.symbol_group is not None else ""
    if kind == RuleKind.PER_LOT:
        what = f"{rule.rate.normalize():f} per lot{group}"
    elif kind == RuleKind.SPREAD_PCT:
        what = f"{rule.rate.normalize():f}% of the spread{group}"
    elif kind == RuleKind.COMMISSION_PCT:
        what = f"{rule.rate.normalize():f}% of the broker's commission{group}"
    elif kind == RuleKind.CPA:
        what = (
            f"CPA of {rule.rate.normalize():f} once the client deposits at least {rule.cpa_min_deposit} and trades "
            f"{rule.cpa_min_lots} lots within {rule.cpa_days} days of approval"
        )
    else:
        what = f"{rule.rate.normalize():f}% of the broker's net revenue per month"
    parts = [what]
    if rule.client_rebate_pct:
        parts.append(f"{rule.client_rebate_pct.normalize():f}% of the pool back to the client")
    shares = [f"{s.normalize():f}%" for s in rule.tier_shares]
    if shares:
        mine = f" (this line: level {level}, {shares[level]})" if 0 <= level < len(shares) else ""
        parts.append(f"split across levels {' / '.join(shares)}{mine}")
    caps = [
        f"{label} {value}"
        for label, value in (
            ("per trade", rule.cap_per_trade),
            ("per day", rule.cap_per_day),
            ("per client and month", rule.cap_per_client),
        )
        if value is not None
    ]
    if caps:
        parts.append("capped " + ", ".join(caps))
    if rule.min_hold_seconds:
        parts.append(f"nothing for deals held under {rule.min_hold_seconds} s")
    return "; ".join(parts) + "."


@dataclass(frozen=True)
class TreeLevel:
    level: int
    partner: Partner | None
    partner_id: int


@dataclass(frozen=True)
class Derivation:
    line: CommissionLine
    rule_words: str
    tree: list[TreeLevel]
    entry: JournalEntry | None
    postings: list[Any]
    clawback: CommissionLine | None
    disputes: list[Dispute]
    held_seconds: int | None


def line_derivation(line: CommissionLine) -> Derivation:
    """Everything that produced a line, for the line page and beside a dispute's claim."""
    by_id = Partner.objects.in_bulk(list(line.tree))
    tree = [TreeLevel(i, by_id.get(pid), pid) for i, pid in enumerate(line.tree)]
    postings = list(line.entry.postings.select_related("account").order_by("id")) if line.entry else []
    clawback = CommissionLine.objects.filter(reverses=line).select_related("entry").first()
    held = None
    if line.deal is not None:
        held = int((line.deal.closed_at - line.deal.opened_at).total_seconds())
    return Derivation(
        line=line,
        rule_words=rule_in_words(line.rule, line.level),
        tree=tree,
        entry=line.entry,
        postings=postings,
        clawback=clawback,
        disputes=list(line.disputes.order_by("-created_at")),
        held_seconds=held,
    )


def dispute_age(dispute: Dispute) -> str:
    delta = timezone.now() - dispute.created_at
    hours = int(delta.total_seconds() // 3600)
    return (
        f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {int(delta.total_seconds() // 60) % 60} min"
    )


def partner_lines_recent(partner: Partner, limit: int = 50) -> QuerySet[CommissionLine]:
    return CommissionLine.objects.filter(partner=partner).select_related("deal", "client").order_by("-id")[:limit]


def partner_commissions_by_month(partner: Partner, *, months: int = 12) -> list[tuple[str, Decimal, str]]:
    """What ``partner`` earned per calendar month over the last ``months`` (every line kind, net of
    clawbacks and adjustments), oldest first: (``"2026-10"``, amount, currency)."""
    from django.db.models import Sum
    from django.db.models.functions import TruncMonth

    since = (timezone.localdate().replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    rows = (
        CommissionLine.objects.filter(partner=partner, earned_on__gte=since)
        .annotate(month=TruncMonth("earned_on"))
        .values("month", "currency")
        .annotate(total=Sum("amount"))
        .order_by("month", "currency")
    )
    return [(f"{r['month']:%Y-%m}", r["total"], r["currency"]) for r in rows]


def partner_disputes(partner: Partner, limit: int = 20) -> QuerySet[Dispute]:
    return Dispute.objects.filter(partner=partner).select_related("line").order_by("-created_at")[:limit]


def partner_statements(partner: Partner, limit: int = 12) -> QuerySet[Any]:
    from ib.models import Statement

    return Statement.objects.filter(partner=partner).order_by("-period_start", "currency")[:limit]


# --- the partner API: a partner's own lines, statements, payouts and disputes ---------------------


def partner_lines_visible_to(partner: Partner) -> QuerySet[CommissionLine]:
    """The statement lines ``partner`` earned (it is their beneficiary), with their derivation."""
    return CommissionLine.objects.filter(partner=partner).select_related(
        "deal", "client", "plan_version__plan", "rule__symbol_group", "qualifying_deposit", "reverses"
    )


def partner_line_get_for(partner: Partner, line_id: int) -> CommissionLine:
    line = partner_lines_visible_to(partner).filter(pk=line_id).first()
    if line is None:
        raise Http404("No such statement line.")
    return line


def partner_statements_visible_to(partner: Partner) -> QuerySet[Any]:
    from ib.models import Statement

    return Statement.objects.filter(partner=partner)


def partner_statement_get_for(partner: Partner, statement_id: int) -> Any:
    statement = partner_statements_visible_to(partner).filter(pk=statement_id).first()
    if statement is None:
        raise Http404("No such statement.")
    return statement


def partner_payouts_visible_to(partner: Partner) -> QuerySet[Any]:
    """The payouts of ``partner``'s commissions to its wallet: each is the maker-checker request
    (``ib.commission_payout``) that asked for it, whatever became of it."""
    from django.contrib.contenttypes.models import ContentType

    from ib.services.money import PAYOUT_ACTION
    from ops.models import ApprovalRequest

    return ApprovalRequest.objects.filter(
        action=PAYOUT_ACTION, subject_type=ContentType.objects.get_for_model(Partner), subject_id=str(partner.pk)
    )


def partner_payout_get_for(partner: Partner, payout_id: int) -> Any:
    payout = partner_payouts_visible_to(partner).filter(pk=payout_id).first()
    if payout is None:
        raise Http404("No such payout.")
    return payout


def partner_disputes_visible_to(partner: Partner) -> QuerySet[Dispute]:
    """The disputes about ``partner``'s commissions (raised by it or by staff on its behalf)."""
    return Dispute.objects.filter(partner=partner).select_related("line", "deal")


def partner_dispute_get_for(partner: Partner, reference: str) -> Dispute:
    dispute = partner_disputes_visible_to(partner).filter(reference=str(reference)[:20]).first()
    if dispute is None:
        raise Http404("No such dispute.")
    return dispute


def partner_deal_get_for(partner: Partner, deal_id: str) -> Any:
    """A deal of a client ``partner`` had introduced at the deal's close (one it may dispute when
    it earned nothing), else 404."""
    from django.db.models import Exists, OuterRef

    from ib.models import Attribution, Deal

    introduced = Attribution.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=OuterRef("closed_at")),
        client=OuterRef("client"),
        partner=partner,
        valid_from__lte=OuterRef("closed_at"),
    )
    deal = Deal.objects.filter(Exists(introduced), deal_id=str(deal_id)[:40]).select_related("client").first()
    if deal is None:
        raise Http404("No such deal.")
    return deal


@dataclass(frozen=True)
class DisputeEvent:
    at: Any
    status: str
    text: str


def dispute_timeline(dispute: Dispute) -> list[DisputeEvent]:
    """What happened to a dispute, as the partner reads it: raised, an adjustment proposed (and
    refused), resolved with the broker's answer. From the audit trail, oldest first."""
    return dispute_timelines([dispute])[dispute.pk]


def dispute_timelines(disputes: Sequence[Dispute]) -> dict[int, list[DisputeEvent]]:
    """``dispute_timeline`` of each dispute (a page of them), in one query of the audit trail."""
    from audit.actions import AuditAction
    from audit.models import AuditEvent
    from ib.models import DisputeResolution
    from payments.currencies import money_str

    by_id = {str(d.pk): d for d in disputes}
    timelines: dict[int, list[DisputeEvent]] = {d.pk: [] for d in disputes}
    rows = AuditEvent.objects.filter(subject_type="ib.dispute", subject_id__in=list(by_id)).order_by("id")
    for row in rows:
        dispute = by_id[row.subject_id]
        events = timelines[dispute.pk]
        after = row.after or {}
        if row.action == AuditAction.DISPUTE_RAISED:
            events.append(DisputeEvent(row.occurred_at, DisputeStatus.OPEN.label, f"Raised: {dispute.claim}"))
        elif row.action == AuditAction.DISPUTE_ADJUSTMENT_PROPOSED:
            try:
                amount = money_str(Decimal(str(after.get("amount"))), str(after.get("currency")))
            except ArithmeticError:
                amount = str(after.get("amount"))
            text = f"An adjustment of {amount} in your favour was proposed; a second person at the broker approves it."
            events.append(DisputeEvent(row.occurred_at, DisputeStatus.ADJUSTMENT_PENDING.label, text))
        elif row.action == AuditAction.DISPUTE_REOPENED:
            text = "The proposed adjustment was not approved: the dispute is open again."
            events.append(DisputeEvent(row.occurred_at, DisputeStatus.OPEN.label, text))
        elif row.action == AuditAction.DISPUTE_RESOLVED:
            code = after.get("resolution") or dispute.resolution
            label = DisputeResolution(code).label if code in DisputeResolution.values else str(code)
            events.append(
                DisputeEvent(row.occurred_at, DisputeStatus.RESOLVED.label, f"Resolved: {label}. {row.reason}")
            )
    return timelines
