"""The simulated PSPs' own pages (demo and tests only; the back office never links here except
through the checkout URL a PSP returned): the checkout page a payer pays an intent on, and a
plain "payment done" page standing in for the broker's website after a payment link."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ops.middleware import second_factor_not_required
from sim import simpay
from sim.models import SimPspPayment

CARD_NOT_ACCEPTED = "This is a test checkout: use one of the test cards listed below."
CARD_INVALID = "That is not a valid card number."


class CheckoutForm(forms.Form):
    cardholder = forms.CharField(label="Name on the card", max_length=200)
    card_number = forms.CharField(label="Card number", max_length=30)

    def clean_card_number(self) -> str:
        number = "".join(self.cleaned_data["card_number"].split()).replace("-", "")
        if not number.isdigit() or not simpay.luhn_ok(number):
            raise forms.ValidationError(CARD_INVALID)
        if number not in simpay.TEST_CARDS:
            raise forms.ValidationError(CARD_NOT_ACCEPTED)
        return number


def _back(payment: SimPspPayment) -> str:
    """The merchant's return URL, told which order this was and how it ended."""
    parts = urlsplit(payment.return_url)
    query = "&".join(
        q for q in [parts.query, urlencode({"order": payment.order_reference, "status": payment.status})] if q
    )
    return urlunsplit(parts._replace(query=query))


@login_not_required
@second_factor_not_required
def checkout(request: HttpRequest, psp: str, payment_id: str) -> HttpResponse:
    payment = SimPspPayment.objects.filter(payment_id=payment_id, psp=psp).first()
    if payment is None or psp not in simpay.SIM_PSPS:
        raise Http404("No such checkout.")
    form = CheckoutForm(request.POST or None)
    status = 200
    if payment.status == "pending" and request.method == "POST":
        if form.is_valid():
            try:
                callback = simpay.checkout_complete(
                    payment_id=payment.payment_id,
                    cardholder=form.cleaned_data["cardholder"],
                    card_number=form.cleaned_data["card_number"],
                )
            except simpay.CheckoutClosed:
                callback = None
            if callback is not None:
                # the PSP calls the merchant back over HTTP once the outcome is committed
                transaction.on_commit(lambda: simpay.callbacks_deliver(ids=[callback.pk]))
            payment.refresh_from_db()
            return redirect(_back(payment)) if payment.return_url else redirect(request.path)
        status = 400
    return render(
        request,
        "sim/checkout.html",
        {"payment": payment, "form": form, "merchant": "Demo Broker", "cards": simpay.TEST_CARDS,
         "back": _back(payment) if payment.return_url else ""},
        status=status,
    )  # fmt: skip


@login_not_required
@second_factor_not_required
def payment_done(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sim/payment_done.html",
        {"order": request.GET.get("order", "")[:40], "status": request.GET.get("status", "")[:20]},
    )
