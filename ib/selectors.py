"""Reads of partners and attributions, and who may see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ib import errors
from ib.models import Attribution, CommissionLine, Deal, DealBatch, Partner
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
