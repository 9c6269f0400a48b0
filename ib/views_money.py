"""Pages of commission money and disputes: a statement line's derivation (and disputing it), the
open disputes, a dispute (resolve it, propose an adjustment), a partner's payables and payouts."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ib import errors
from ib.errors import PartnerError
from ib.forms_money import AdjustmentForm, DisputeForm, PayoutForm, ResolveForm
from ib.models import Dispute
from ib.selectors import partner_can_view, partner_get_for
from ib.selectors_money import (
    commission_line_get_for,
    dispute_age,
    dispute_get_for,
    disputes_open,
    disputes_recently_resolved,
    line_derivation,
    partner_lines_recent,
)
from ib.services.disputes import (
    dispute_can_handle,
    dispute_can_propose_adjustment,
    dispute_can_resolve,
    dispute_propose_adjustment,
    dispute_raise,
    dispute_resolve,
)
from ib.services.money import (
    commission_payout_can_request,
    commission_payout_quote,
    commission_payout_request,
    partner_payables,
    payout_pending,
)
from ops.errors import OpsError
from ops.models import User
from payments.errors import PaymentError


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


# --- a statement line -----------------------------------------------------------------------------


def _line_page(request: HttpRequest, pk: int, form: DisputeForm | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    line = commission_line_get_for(user, pk)
    return render(
        request,
        "ib/line_detail.html",
        {
            "d": line_derivation(line),
            "line": line,
            "form": form or DisputeForm(),
            "can_dispute": dispute_can_handle(user),
        },
        status=status,
    )


def line_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _line_page(request, pk)


@require_POST
def line_dispute_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    line = commission_line_get_for(user, pk)
    dispute_can_handle(user).require(PermissionDenied)
    form = DisputeForm(request.POST)
    if form.is_valid():
        try:
            dispute = dispute_raise(
                line=line, claim=form.cleaned_data["claim"], claimed_amount=form.cleaned_data["claimed_amount"],
                actor=user,
            )  # fmt: skip
        except PartnerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Dispute {dispute.reference} raised: it is in the IB dispute queue.")
            return redirect(dispute)
    return _line_page(request, pk, form, status=400)


# --- disputes ---------------------------------------------------------------------------------------


def dispute_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    rows = [(d, dispute_age(d)) for d in disputes_open()]
    context = {"rows": rows, "resolved": list(disputes_recently_resolved()), "now": timezone.now()}
    return render(request, "ib/dispute_list.html", context)


def _dispute_page(
    request: HttpRequest,
    dispute: Dispute,
    *,
    resolve_form: ResolveForm | None = None,
    adjustment_form: AdjustmentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {
        "dispute": dispute,
        "age": dispute_age(dispute),
        "d": line_derivation(dispute.line) if dispute.line is not None else None,
        "resolve_form": resolve_form or ResolveForm(),
        "adjustment_form": adjustment_form or AdjustmentForm(),
        "can_resolve": dispute_can_resolve(user, dispute),
        "can_adjust": dispute_can_propose_adjustment(user, dispute),
    }
    return render(request, "ib/dispute_detail.html", context, status=status)


def dispute_view(request: HttpRequest, reference: str) -> HttpResponse:
    return _dispute_page(request, dispute_get_for(_user(request), reference))


@require_POST
def dispute_resolve_view(request: HttpRequest, reference: str) -> HttpResponse:
    user = _user(request)
    dispute = dispute_get_for(user, reference)
    dispute_can_handle(user).require(PermissionDenied)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            dispute_resolve(
                dispute_id=dispute.pk, actor=user, resolution=form.cleaned_data["resolution"],
                note=form.cleaned_data["note"],
            )  # fmt: skip
        except PartnerError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Dispute {dispute.reference} resolved.")
            return redirect(dispute)
    return _dispute_page(request, dispute, resolve_form=form, status=400)


@require_POST
def dispute_adjustment_view(request: HttpRequest, reference: str) -> HttpResponse:
    user = _user(request)
    dispute = dispute_get_for(user, reference)
    dispute_can_handle(user).require(PermissionDenied)
    form = AdjustmentForm(request.POST)
    if form.is_valid():
        try:
            approval = dispute_propose_adjustment(
                dispute_id=dispute.pk, actor=user, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
            )  # fmt: skip
        except (PartnerError, OpsError, PaymentError) as exc:
            message = str(exc)
            field = message.split(":", 1)[0] if message.split(":", 1)[0] in form.fields else None
            form.add_error(field, message)
        else:
            messages.success(request, f"Adjustment asked for (approval #{approval.pk}): a finance officer decides.")
            return redirect(dispute)
    return _dispute_page(request, dispute, adjustment_form=form, status=400)


# --- a partner's payables and payouts -----------------------------------------------------------------


def _payouts_page(request: HttpRequest, pk: int, form: PayoutForm | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    partner = partner_get_for(user, pk)
    payables = partner_payables(partner)
    quotes = [commission_payout_quote(partner, p.currency) for p in payables]
    return render(
        request,
        "ib/partner_payouts.html",
        {
            "partner": partner,
            "payables": payables,
            "quotes": quotes,
            "pending": payout_pending(partner),
            "can_pay": commission_payout_can_request(user, partner),
            "form": form or PayoutForm(initial={"currency": quotes[0].currency if quotes else "EUR"}),
            "lines": list(partner_lines_recent(partner)),
        },
        status=status,
    )


def partner_payouts_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _payouts_page(request, pk)


@require_POST
def partner_payout_request_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    partner = partner_get_for(user, pk)
    decision = commission_payout_can_request(user, partner)
    if not decision and decision.reason == errors.NOT_ALLOWED_PAYOUT:
        raise PermissionDenied(decision.reason)
    form = PayoutForm(request.POST)
    if form.is_valid():
        try:
            approval = commission_payout_request(
                partner=partner, currency=form.cleaned_data["currency"], actor=user, reason=form.cleaned_data["reason"]
            )
        except (PartnerError, OpsError, PaymentError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Payout asked for (approval #{approval.pk}): a second finance officer decides.")
            return redirect("partner-payouts", pk=partner.pk)
    return _payouts_page(request, pk, form, status=400)
