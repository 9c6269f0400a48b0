"""Partner pages: the hierarchy, a partner's page, adding a partner, and the client 360's partner
section (who introduced the client, since when, and asking for a change)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Client
from accounts.selectors import client_get_for
from ib.approval_actions import ACTION, attribution_can_request_change, change_pending
from ib.errors import DealFeedError, PartnerError
from ib.filters import DealFilter
from ib.forms import AttributionChangeForm, DealImportForm, PartnerForm
from ib.models import FeedSource, Partner
from ib.selectors import (
    attribution_at,
    attribution_history,
    deal_batch_get_for,
    deal_batch_list,
    deal_batch_work_item,
    deal_commission_lines,
    deal_get_for,
    deal_list,
    partner_can_view,
    partner_clients,
    partner_get_for,
)
from ib.selectors import partner_list as partners_in_order
from ib.services.feed import deal_batch_process, deal_batch_receive, deal_can_import
from ib.services.partners import partner_can_create, partner_create
from ops.errors import OpsError
from ops.models import User
from ops.services.approvals import approval_submit


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def partner_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    q = request.GET.get("q", "")[:200].replace("\x00", "")
    return render(
        request,
        "ib/partner_list.html",
        {"partners": partners_in_order(q=q), "q": q, "can_create": partner_can_create(user)},
    )


def partner_new_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_create(user).require(PermissionDenied)
    form = PartnerForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            client = None
            if data["client_reference"]:
                client = Client.objects.filter(reference__iexact=data["client_reference"].strip()).first()
                if client is None:
                    form.add_error("client_reference", f"No client has the reference {data['client_reference']}.")
            if not form.errors:
                try:
                    partner = partner_create(
                        name=data["name"], actor=user, parent_id=data["parent"].pk if data["parent"] else None,
                        code=data["code"], email=data["email"], client=client,
                    )  # fmt: skip
                except ValidationError as exc:
                    for field, problems in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, problems)
                else:
                    messages.success(request, f"Added {partner.name}; referral code {partner.code}.")
                    return redirect(partner)
        return render(request, "ib/partner_form.html", {"form": form}, status=400)
    return render(request, "ib/partner_form.html", {"form": form})


def partner_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    partner = partner_get_for(user, pk)
    below = list(Partner.objects.get_descendants(partner).order_by("path"))
    return render(
        request,
        "ib/partner_detail.html",
        {
            "partner": partner,
            "above": list(Partner.objects.get_ancestors(partner)),
            "below": below,
            "base_depth": partner.depth,
            "clients": list(partner_clients(partner)),
        },
    )


def partner_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client 360's partner section."""
    if not partner_can_view(user):
        return "ib/_client_panel.html", {"partner_visible": False}
    return "ib/_client_panel.html", {
        "partner_visible": True,
        "attribution": attribution_at(client),
        "attributions": list(attribution_history(client)),
        "partner_change_pending": change_pending(client),
        "can_change_partner": attribution_can_request_change(user, client),
        "partner_change_form": forms.get("partner_change_form") or AttributionChangeForm(),
    }


@require_POST
def attribution_change_view(request: HttpRequest, client_id: int) -> HttpResponse:
    """Ask for the client to be attributed to another partner (finance approves on /approvals/)."""
    user = _user(request)
    client = client_get_for(user, client_id, for_write=True)
    attribution_can_request_change(user, client).require(PermissionDenied)
    form = AttributionChangeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        payload = {"partner": data["partner"].pk, "effective_from": data["effective_from"].isoformat(),
                   "campaign": data["campaign"].strip()}  # fmt: skip
        try:
            approval = approval_submit(
                action=ACTION, subject=client, payload=payload, maker=user, reason=data["reason"]
            )
        except (PartnerError, OpsError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
            return redirect("client", pk=client.pk)
    problems = [
        " ".join(str(e) for e in v) if k == "__all__" else f"{k}: {' '.join(str(e) for e in v)}"
        for k, v in form.errors.items()
    ]
    messages.error(request, "; ".join(problems))
    return redirect("client", pk=client.pk)


# --- the trade feed: deals, batches, and the deal report import ---------------------------------


def _page(request: HttpRequest, queryset: Any, per_page: int = 50) -> tuple[Any, str]:
    """One page of ``queryset`` and the query string of the other filters (for the pager's links)."""
    query = request.GET.copy()
    query.pop("page", None)
    return Paginator(queryset, per_page).get_page(request.GET.get("page")), query.urlencode()


def deal_list_view(request: HttpRequest) -> HttpResponse:
    partner_can_view(_user(request)).require(PermissionDenied)
    filters = DealFilter(request.GET or None, queryset=deal_list())
    valid = filters.is_valid() if request.GET else True
    page, query = _page(request, filters.qs if valid else deal_list().none())
    return render(
        request,
        "ib/deal_list.html",
        {"filters": filters, "page": page, "query": query, "can_import": deal_can_import(_user(request))},
        status=200 if valid else 400,
    )


def deal_view(request: HttpRequest, deal_id: str) -> HttpResponse:
    deal = deal_get_for(_user(request), deal_id)
    return render(
        request,
        "ib/deal_detail.html",
        {
            "deal": deal,
            "attribution": attribution_at(deal.client, deal.closed_at),
            "lines": list(deal_commission_lines(deal)),
            "held": deal.closed_at - deal.opened_at,
        },
    )


def deal_feed_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    page, query = _page(request, deal_batch_list())
    return render(request, "ib/feed.html", {"page": page, "query": query, "can_import": deal_can_import(user)})


def deal_batch_view(request: HttpRequest, pk: int) -> HttpResponse:
    batch = deal_batch_get_for(_user(request), pk)
    return render(
        request,
        "ib/deal_batch.html",
        {
            "batch": batch,
            "work_item": deal_batch_work_item(batch),
            "deals": list(deal_list().filter(batch=batch)[:100]),
        },
    )


def deal_import_view(request: HttpRequest) -> HttpResponse:
    """Upload a deal report file: stored as a batch, then processed; the batch's page shows what
    was new, duplicate and refused (refusals also open a trade feed exception)."""
    user = _user(request)
    deal_can_import(user).require(PermissionDenied)
    form = DealImportForm(request.POST or None, request.FILES or None)
    if request.method != "POST":
        return render(request, "ib/deal_import.html", {"form": form})
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = deal_batch_receive(
                source=FeedSource.CSV, raw=upload.read(), filename=upload.name or "deals.csv",
                received_by=user.get_username(),
            )  # fmt: skip
        except DealFeedError as exc:
            form.add_error("file", exc.message)
        else:
            batch = deal_batch_process(batch_id=batch.pk)
            summary = f"{batch.rows_new} new, {batch.rows_duplicate} duplicate, {batch.rows_rejected} refused."
            (messages.warning if batch.rows_rejected else messages.success)(request, f"Imported: {summary}")
            return redirect(batch)
    return render(request, "ib/deal_import.html", {"form": form}, status=400)
