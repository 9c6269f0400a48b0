"""Reads of partners and attributions, and who may see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ib import errors
from ib.models import Attribution, Partner
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
