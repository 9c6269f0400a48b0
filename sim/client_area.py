"""A sample client area: the broker's front office as the demo shows it, and living documentation of
the client-area API (/api/v1/client-area/). Demo and tests only (the sim app).

It uses NOTHING but that API, over HTTP, with the client area's key (``SIM_CLIENT_AREA_API_KEY``, or
the file the demo writes it to): no model, no service, no selector of the back office is imported.
A real portal signs its end users in; this one keeps the client's id in its own session once they
register (or give their client number), which is enough for a demo.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse

from ops.middleware import second_factor_not_required

SESSION_KEY = "sim_client_area_client"
TIMEOUT_SECONDS = 15
NO_KEY = (
    "The sample client area has no API key: `make demo` creates one (or set SIM_CLIENT_AREA_API_KEY, or "
    "SIM_CLIENT_AREA_KEY_FILE naming a file that holds it)."
)


# --- the API, over HTTP ------------------------------------------------------------------------


class ApiUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def errors(self) -> dict[str, list[str]]:
        """A problem's fields at fault (or its detail under ``__all__``)."""
        body = self.body if isinstance(self.body, dict) else {}
        found = body.get("errors") or {}
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in found.items()} or {
            "__all__": [str(body.get("detail") or f"The back office answered {self.status}.")]
        }


def key_file() -> Path:
    """Where the demo keeps the sample's key (made once, shown once: kept for the next run)."""
    return Path(settings.SIM_CLIENT_AREA_KEY_FILE or Path(settings.VAR_DIR) / "client-area-api-key")


def _key() -> str:
    if settings.SIM_CLIENT_AREA_API_KEY:
        return str(settings.SIM_CLIENT_AREA_API_KEY)
    path = key_file()
    if path.exists():
        return path.read_text().strip()
    raise ApiUnavailable(NO_KEY)


def _base() -> str:
    return str(settings.SIM_CLIENT_AREA_API_URL or f"{settings.SIM_PSP_PUBLIC_URL}/api/v1/client-area/")


def api(method: str, path: str, *, json: Any = None, files: Any = None, data: Any = None, key: str = "") -> Answer:
    """One call to the client-area API as the portal's server makes it."""
    headers = {"Authorization": f"Bearer {_key()}", "Accept": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    try:
        response = requests.request(
            method, _base() + path, json=json, files=files, data=data, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        raise ApiUnavailable(f"The back office cannot be reached: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:300]}
    return Answer(response.status_code, body)


def _show_errors(form: forms.Form, answer: Answer) -> None:
    """The API's problem on the form: each message beside the field it names."""
    for field, messages in answer.errors().items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


# --- forms ------------------------------------------------------------------------------------


class IdempotentForm(forms.Form):
    """Each rendered form carries its own Idempotency-Key: submitted twice, the API answers once."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})["idempotency_key"] = uuid.uuid4().hex
        super().__init__(*args, **kwargs)


class RegisterForm(IdempotentForm):
    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    country = forms.CharField(max_length=2, help_text="Two letters, e.g. GB")
    email = forms.EmailField()
    phone = forms.CharField(max_length=30)
    account_type = forms.ChoiceField(
        choices=[("standard", "Standard"), ("pro", "Pro"), ("ecn", "ECN"), ("swap_free", "Swap-free")]
    )
    base_currency = forms.ChoiceField(label="Currency", choices=[("EUR", "EUR"), ("USD", "USD"), ("GBP", "GBP")])
    referral_code = forms.CharField(required=False, max_length=32, help_text="From your introducing broker, if any")


class SignInForm(forms.Form):
    client_id = forms.IntegerField(label="Client number", min_value=1)


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(
        label="Document",
        choices=[
            ("proof_of_identity", "Proof of identity"),
            ("proof_of_address", "Proof of address"),
            ("suitability_questionnaire", "Suitability questionnaire"),
            ("source_of_funds", "Source of funds"),
        ],
    )
    file = forms.FileField(help_text="PDF, JPEG or PNG")


class DepositForm(IdempotentForm):
    channel = forms.ChoiceField(label="Pay by", choices=[("card", "Card"), ("bank", "Bank transfer")])
    amount = forms.CharField(max_length=20)
    currency = forms.CharField(max_length=3, initial="EUR")


class TransferForm(IdempotentForm):
    direction = forms.ChoiceField(
        choices=[("wallet_to_trading", "Wallet to trading account"), ("trading_to_wallet", "Trading account to wallet")]
    )
    trading_account = forms.CharField(label="Trading account", max_length=32)
    amount = forms.CharField(max_length=20)


class WithdrawForm(IdempotentForm):
    amount = forms.CharField(max_length=20)
    currency = forms.CharField(max_length=3, initial="EUR")
    method = forms.ChoiceField(label="Pay to", choices=[("card", "The card I paid with"), ("bank", "Bank account")])
    destination = forms.CharField(max_length=80, help_text="The card's fingerprint, or your IBAN")
    destination_name = forms.CharField(label="Name on the card or account", max_length=200)


# --- pages ------------------------------------------------------------------------------------


def page(view: Any) -> Any:
    """A sample page: open to anyone (the sample is its own website), and the back office being
    unreachable or unkeyed is said on the page."""

    @login_not_required
    @second_factor_not_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except ApiUnavailable as exc:
            return render(request, "sim/client_area/unavailable.html", {"problem": str(exc)}, status=503)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _client_id(request: HttpRequest) -> int | None:
    value = request.session.get(SESSION_KEY)
    return int(value) if value else None


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"sim/client_area/{template}", context, status=status)


def _me(request: HttpRequest) -> tuple[int, Any] | None:
    client_id = _client_id(request)
    if client_id is None:
        return None
    answer = api("GET", f"clients/{client_id}/")
    if not answer.ok:
        request.session.pop(SESSION_KEY, None)
        return None
    return client_id, answer.body


DEVICE_HEADER = "X-Device-Fingerprint"
# the CDN in front of the portal places the end user's address in a country (XX: it could not; T1: Tor)
COUNTRY_HEADER = "CF-IPCountry"


def _report_sign_in(request: HttpRequest, client_id: int, outcome: str, failure_reason: str = "") -> Answer:
    """Tell the back office about a sign-in, as a real portal does for every attempt: the end user's
    IP address, user agent, the device fingerprint its front end sends (when it sends one), and the
    country its CDN placed the address in (when it could)."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    body = {
        "outcome": outcome, "ip_address": forwarded or request.META.get("REMOTE_ADDR") or "127.0.0.1",
        "user_agent": request.headers.get("User-Agent", "")[:512],
        "device_fingerprint": request.headers.get(DEVICE_HEADER, "")[:128],
    }  # fmt: skip
    if failure_reason:
        body["failure_reason"] = failure_reason
    country = request.headers.get(COUNTRY_HEADER, "").strip().upper()
    if country and country not in ("XX", "T1"):
        body["country"] = country
    return api("POST", f"clients/{client_id}/sign-ins/", json=body, key=uuid.uuid4().hex)


@page
def home(request: HttpRequest) -> HttpResponse:
    """Your account: status, what it allows, money, documents still needed."""
    me = _me(request)
    if me is None:
        form = SignInForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            answer = api("GET", f"clients/{form.cleaned_data['client_id']}/")
            if answer.ok and answer.body["status"] == "closed":
                _report_sign_in(request, answer.body["id"], "failed", "account_closed")
                form.add_error("client_id", "This account is closed.")
            elif answer.ok:
                _report_sign_in(request, answer.body["id"], "succeeded")
                request.session[SESSION_KEY] = answer.body["id"]
                return redirect("sim-ca-home")
            else:
                form.add_error("client_id", "No account with this number.")
        return _render(request, "welcome.html", {"form": form})
    client_id, client = me
    checklist = api("GET", f"clients/{client_id}/checklist/").body
    return _render(request, "home.html", {"client": client, "checklist": checklist})


@page
def register(request: HttpRequest) -> HttpResponseBase:
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "idempotency_key" and v not in ("", None)}
        data["date_of_birth"] = data["date_of_birth"].isoformat()
        data["kind"] = "individual"
        answer = api("POST", "clients/", json=data, key=form.cleaned_data["idempotency_key"])
        if answer.ok:
            request.session[SESSION_KEY] = answer.body["id"]
            return redirect("sim-ca-documents")
        _show_errors(form, answer)
    return _render(request, "register.html", {"form": form}, status=400 if form.errors else 200)


@page
def documents(request: HttpRequest) -> HttpResponseBase:
    client_id = _client_id(request)
    if client_id is None:
        return redirect("sim-ca-home")
    form = DocumentForm(request.POST or None, request.FILES or None)
    uploaded = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        answer = api(
            "POST", f"clients/{client_id}/documents/", data={"kind": form.cleaned_data["kind"]},
            files={"file": (upload.name, upload.read(), upload.content_type or "application/octet-stream")},
            key=uuid.uuid4().hex,
        )  # fmt: skip
        if answer.ok:
            uploaded = answer.body["kind_display"]
            form = DocumentForm()
        else:
            _show_errors(form, answer)
    context = {
        "form": form, "uploaded": uploaded, "checklist": api("GET", f"clients/{client_id}/checklist/").body,
        "documents": api("GET", f"clients/{client_id}/documents/").body.get("results", []),
    }  # fmt: skip
    return _render(request, "documents.html", context, status=400 if form.errors else 200)


@page
def deposit(request: HttpRequest) -> HttpResponseBase:
    client_id = _client_id(request)
    if client_id is None:
        return redirect("sim-ca-home")
    form = DepositForm(request.POST or None)
    bank = None
    if request.method == "POST" and form.is_valid():
        body = {k: form.cleaned_data[k] for k in ("channel", "amount", "currency")}
        if body["channel"] == "card":
            body["return_url"] = request.build_absolute_uri(reverse("sim-ca-deposit-done"))
        answer = api("POST", f"clients/{client_id}/deposits/", json=body, key=form.cleaned_data["idempotency_key"])
        if answer.ok and answer.body["channel"] == "card":
            return redirect(answer.body["checkout_url"])  # the PSP's checkout page, which sends the payer back
        if answer.ok:
            bank = answer.body
        else:
            _show_errors(form, answer)
    deposits = api("GET", f"clients/{client_id}/deposits/").body.get("results", [])
    context = {"form": form, "bank": bank, "deposits": deposits}
    return _render(request, "deposit.html", context, status=400 if form.errors else 200)


@page
def deposit_done(request: HttpRequest) -> HttpResponseBase:
    """Back from the PSP's checkout: the order and how it ended, and the deposits as the API has them
    (the PSP's signed callback credits the deposit, a moment after the payer comes back)."""
    client_id = _client_id(request)
    if client_id is None:
        return redirect("sim-ca-home")
    deposits = api("GET", f"clients/{client_id}/deposits/").body.get("results", [])
    context = {"order": request.GET.get("order", "")[:40], "status": request.GET.get("status", "")[:20],
               "deposits": deposits}  # fmt: skip
    return _render(request, "deposit_done.html", context)


@page
def transfer(request: HttpRequest) -> HttpResponseBase:
    me = _me(request)
    if me is None:
        return redirect("sim-ca-home")
    client_id, client = me
    logins = [(a["login"], f"{a['login']} ({a['currency']})") for a in client["trading_accounts"] if a["login"]]
    form = TransferForm(request.POST or None, initial={"trading_account": logins[0][0] if logins else ""})
    done = None
    if request.method == "POST" and form.is_valid():
        body = {k: form.cleaned_data[k] for k in ("direction", "trading_account", "amount")}
        answer = api("POST", f"clients/{client_id}/transfers/", json=body, key=form.cleaned_data["idempotency_key"])
        if answer.ok:
            done = answer.body
            client = api("GET", f"clients/{client_id}/").body
            form = TransferForm(initial={"trading_account": body["trading_account"]})
        else:
            _show_errors(form, answer)
    context = {"form": form, "client": client, "done": done, "logins": logins}
    return _render(request, "transfer.html", context, status=400 if form.errors else 200)


@page
def withdraw(request: HttpRequest) -> HttpResponseBase:
    client_id = _client_id(request)
    if client_id is None:
        return redirect("sim-ca-home")
    form = WithdrawForm(request.POST or None)
    done = None
    if request.method == "POST" and form.is_valid():
        body = {k: form.cleaned_data[k] for k in ("amount", "currency", "method", "destination", "destination_name")}
        answer = api("POST", f"clients/{client_id}/withdrawals/", json=body, key=form.cleaned_data["idempotency_key"])
        if answer.ok:
            done = answer.body
            form = WithdrawForm()
        else:
            _show_errors(form, answer)
    withdrawals = api("GET", f"clients/{client_id}/withdrawals/").body.get("results", [])
    deposits = api("GET", f"clients/{client_id}/deposits/").body.get("results", [])
    cards = sorted({d["paid_with"] for d in deposits if d["channel"] == "card" and d["paid_with"]})
    context = {"form": form, "done": done, "withdrawals": withdrawals, "cards": cards}
    return _render(request, "withdraw.html", context, status=400 if form.errors else 200)


@page
def history(request: HttpRequest) -> HttpResponseBase:
    client_id = _client_id(request)
    if client_id is None:
        return redirect("sim-ca-home")
    context = {
        "transactions": api("GET", f"clients/{client_id}/transactions/").body.get("results", []),
        "notifications": api("GET", f"clients/{client_id}/notifications/").body.get("results", []),
    }
    return _render(request, "history.html", context)


@page
def sign_out(request: HttpRequest) -> HttpResponseBase:
    if request.method == "POST":
        request.session.pop(SESSION_KEY, None)
    return redirect("sim-ca-home")
