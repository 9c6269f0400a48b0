"""Payment pages (finance works deposits, withdrawals, statements and breaks here) and the PSP's
webhook endpoint. Views parse input with a form, call one service or selector, and render; what a
person may do is the service's ``<entity>_can_<verb>`` answer, read here to offer only the actions
the service will accept."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Client
from accounts.selectors import client_get_for
from audit.context import Actor, acting_as, refusal_noted
from audit.models import SecurityEventKind
from audit.selectors import evidence_pack_can_export
from audit.services import security_event_note
from ops.errors import OpsError
from ops.models import Decision as ApprovalChoice
from ops.models import User
from ops.services.approvals import approval_decide
from payments import errors
from payments.errors import PaymentError
from payments.forms import (
    SETTLEMENT,
    BreakResolveForm,
    ChargebackRespondForm,
    DepositReleaseForm,
    DepositReturnForm,
    PaymentLinkForm,
    RoutingChangeForm,
    StatementUploadForm,
    WithdrawalApproveForm,
    WithdrawalForm,
    WithdrawalRejectForm,
)
from payments.hooks import case_record_sections
from payments.models import Channel, ChargebackStatus, Deposit, WebhookStatus, Withdrawal, WithdrawalStatus
from payments.providers import card_providers, provider_named
from payments.selectors import (
    break_get_for,
    chargeback_get_for,
    chargeback_list,
    client_ledger_accounts,
    deposit_get_for,
    deposit_list,
    entry_posting_lines,
    open_break_list,
    payments_can_view,
    routing_pending_changes,
    routing_rule_list,
    statement_import_list,
    statement_line_list,
    withdrawal_client_get_for,
    withdrawal_get_for,
    withdrawal_list,
    withdrawal_review,
)
from payments.services import chargebacks as chargeback_svc
from payments.services import deposits as deposit_svc
from payments.services import withdrawals as withdrawal_svc
from payments.services.bank import statement_can_import, statement_import
from payments.services.deposit_start import deposit_can_create_link, deposit_start_bank, deposit_start_card
from payments.services.reconciliation import (
    break_can_resolve,
    break_resolve_by_hand,
    settlement_can_import,
    settlement_import,
)
from payments.services.routing import routing_can_request_change, routing_change_request, rule_snapshot
from payments.services.webhooks import CallbackResult, WebhookRejected, inbound_event_process, inbound_event_store
from payments.tasks import inbound_events_drain_task

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _viewer(request: HttpRequest) -> User:
    """The signed-in staff member, if payments are theirs to see (403 with the reason if not)."""
    user = _user(request)
    payments_can_view(user).require(PermissionDenied)
    return user


def _submit(request: HttpRequest, form: forms.Form, run: Callable[[dict[str, Any]], str]) -> int | None:
    """Validate the form and run the service with its data (``run`` says what was done): None when
    it was done, otherwise the status to render the page again with (the form shows its errors)."""
    if not form.is_valid():
        return 400
    try:
        done = run(form.cleaned_data)
    except PaymentError as exc:
        if exc.status == 403:
            refusal_noted(exc.message)  # the reason the security log records
        messages.error(request, exc.message)
        if exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        return exc.status
    except OpsError as exc:  # the approval engine refused the decision (its rules, or the request moved on)
        messages.error(request, str(exc))
        return 409
    messages.success(request, done)
    return None


# --- the PSP's callbacks --------------------------------------------------------------------------


@csrf_exempt
@login_not_required
@require_POST
def psp_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """A configured PSP's callbacks (``/webhooks/<its name>/``); its adapter says where the
    signature is and how to check it."""
    adapter = provider_named(provider)
    if adapter is None:
        reason = errors.PROVIDER_UNKNOWN.format(provider=provider)
        security_event_note(kind=SecurityEventKind.WEBHOOK_REJECTED, reason=reason, status=404)
        return JsonResponse({"error": reason}, status=404)
    with acting_as(Actor.system(f"webhook:{adapter.name}")):  # the PSP acts; its signature says so
        return _psp_webhook(request, adapter.name, adapter.signature_header)


def _psp_webhook(request: HttpRequest, provider: str, signature_header: str) -> HttpResponse:
    try:
        stored, new = inbound_event_store(
            provider=provider,
            body=request.body,
            signature=request.headers.get(signature_header),
        )
    except WebhookRejected as exc:
        if exc.forged:
            security_event_note(kind=SecurityEventKind.WEBHOOK_REJECTED, reason=str(exc), status=exc.status)
        return JsonResponse({"error": str(exc)}, status=exc.status)
    result = CallbackResult.of(stored)
    if settings.WEBHOOK_APPLY == "queued" and result.status == WebhookStatus.RECEIVED:
        # stored (committed): a worker applies it with whatever else is waiting. Should the broker be
        # down, the minute's drain (beat) still finds it.
        try:
            inbound_events_drain_task.delay()
        except Exception:  # the callback is safe in the inbox either way
            logger.warning("webhook: could not queue the inbox drain; beat's drain will apply event %s", stored.pk)
    else:
        result = inbound_event_process(event_pk=stored.pk)  # stored (committed) first, then applied once
    return JsonResponse({"received": True, "duplicate": not new, "status": result.status, "result": result.detail})


# --- pages ----------------------------------------------------------------------------------------


def payments_home(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    status = request.GET.get("status", "")
    return render(
        request,
        "payments/home.html",
        {
            "withdrawals": withdrawal_list(actor=user, status=status),
            "deposits": deposit_list(actor=user),
            "status": status,
            "statuses": WithdrawalStatus.choices,
            "breaks": open_break_list(actor=user),
        },
    )


def deposit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    deposit = deposit_get_for(user, pk, for_write=request.method == "POST")
    release_form, return_form = DepositReleaseForm(), DepositReturnForm()
    if request.method != "POST":
        return _deposit_page(request, deposit, release_form, return_form)

    def release(data: dict[str, Any]) -> str:
        deposit_svc.deposit_release(deposit_id=pk, actor=user, reason=data["reason"])
        return f"{deposit.reference} credited to the client."

    def refund(data: dict[str, Any]) -> str:
        deposit_svc.deposit_refund(deposit_id=pk, actor=user, reason_code=data["reason_code"], note=data["note"])
        return f"{deposit.reference} returned to the payer."

    action = request.POST.get("action")
    if action == "release":
        release_form = DepositReleaseForm(request.POST)
        refused = _submit(request, release_form, release)
    elif action == "refund":
        return_form = DepositReturnForm(request.POST)
        refused = _submit(request, return_form, refund)
    else:
        refused = 400
    if refused is None:
        return redirect("payments-deposit", pk=pk)
    deposit = deposit_get_for(user, pk, for_write=False)
    return _deposit_page(request, deposit, release_form, return_form, status=refused)


def _deposit_page(
    request: HttpRequest,
    deposit: Deposit,
    release_form: DepositReleaseForm,
    return_form: DepositReturnForm,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "payments/deposit.html",
        {
            "deposit": deposit,
            "postings": entry_posting_lines(deposit.entry),
            "can_release": deposit_svc.deposit_can_release(user, deposit),
            "can_refund": deposit_svc.deposit_can_refund(user, deposit),
            "release_form": release_form,
            "return_form": return_form,
            "refund_exception": deposit_svc.deposit_refund_exception(deposit),
        },
        status=status,
    )


def withdrawal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    withdrawal = withdrawal_get_for(user, pk, for_write=request.method == "POST")
    approve_form, reject_form = WithdrawalApproveForm(), WithdrawalRejectForm()
    if request.method != "POST":
        return _withdrawal_page(request, withdrawal, approve_form, reject_form)

    def approve(data: dict[str, Any]) -> str:  # a decision of the one maker-checker engine, on the request shown
        if withdrawal.approval_request_id is None:
            raise PaymentError(errors.WITHDRAW_NO_REVIEW.format(reference=withdrawal.reference), status=409)
        approval_decide(
            request_id=withdrawal.approval_request_id, checker=user, decision=ApprovalChoice.APPROVE,
            reason=data["reason"], seen_payload_hash=data["payload_hash"] or None,
        )  # fmt: skip
        return "Approval recorded."

    def reject(data: dict[str, Any]) -> str:
        withdrawal_svc.withdrawal_reject(
            withdrawal_id=pk, actor=user, reason_code=data["reason_code"], note=data["note"]
        )
        return "Withdrawal rejected; the funds are released."

    def execute(data: dict[str, Any]) -> str:
        withdrawal_svc.withdrawal_payout_execute(withdrawal_id=pk, actor=user)
        return "Payout sent to the channel."

    action = request.POST.get("action")
    if action == "approve":
        approve_form = WithdrawalApproveForm(request.POST)
        refused = _submit(request, approve_form, approve)
    elif action == "reject":
        reject_form = WithdrawalRejectForm(request.POST)
        refused = _submit(request, reject_form, reject)
    elif action == "execute":
        refused = _submit(request, forms.Form(request.POST), execute)
    else:
        refused = 400
    if refused is None:
        return redirect("payments-withdrawal", pk=pk)
    withdrawal = withdrawal_get_for(user, pk, for_write=False)
    return _withdrawal_page(request, withdrawal, approve_form, reject_form, status=refused)


def _withdrawal_page(
    request: HttpRequest,
    withdrawal: Withdrawal,
    approve_form: WithdrawalApproveForm,
    reject_form: WithdrawalRejectForm,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    review = withdrawal_review(withdrawal)
    if review.next_level is not None:
        approve_form.fields["reason"].label = f"Reason for approving ({review.next_level.label} level)"
    if review.request is not None and not approve_form.is_bound:  # the decision is on the payload shown
        approve_form.initial["payload_hash"] = review.request.payload_hash
    return render(
        request,
        "payments/withdrawal.html",
        {
            "w": withdrawal,
            "review": review.request,
            "levels": review.levels,
            "next_level": review.next_level,
            "can_approve": withdrawal_svc.withdrawal_can_approve(user, withdrawal),
            "can_reject": withdrawal_svc.withdrawal_can_reject(user, withdrawal),
            "can_execute": withdrawal_svc.withdrawal_can_execute(user, withdrawal),
            "approve_form": approve_form,
            "reject_form": reject_form,
            "rejected_because": withdrawal_svc.CLIENT_REASONS.get(withdrawal.reason_code, withdrawal.reason_code),
            "postings": entry_posting_lines(withdrawal.entry),
        },
        status=status,
    )


def withdrawal_new(request: HttpRequest, client_pk: int) -> HttpResponse:
    """Finance enters a withdrawal the client asked for by phone or e-mail (the client area and
    the API use the same service)."""
    user = _viewer(request)  # by role (as the API), then by object
    client = withdrawal_client_get_for(user, client_id=client_pk)
    withdrawal_svc.withdrawal_can_enter(user, client).require(PermissionDenied)
    sources = client_ledger_accounts(client)
    form = WithdrawalForm(
        request.POST or None, sources=sources, initial={"method": "bank", "destination_name": client.display_name}
    )
    status = 200
    if request.method == "POST":
        created: list[Withdrawal] = []

        def enter(data: dict[str, Any]) -> str:
            withdrawal = withdrawal_svc.withdrawal_request(
                client=client, source=data["source"], amount=data["amount"], method=data["method"],
                destination=data["destination"], destination_name=data["destination_name"], requested_by=user,
            )  # fmt: skip
            created.append(withdrawal)
            return f"Withdrawal {withdrawal.reference} recorded: {withdrawal.get_status_display()}."

        refused = _submit(request, form, enter)
        if refused is None:
            return redirect("payments-withdrawal", pk=created[0].pk)
        status = refused
    return render(request, "payments/withdrawal_new.html", {"client": client, "form": form}, status=status)


def statements(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    form = StatementUploadForm()
    status = 200
    if request.method == "POST":
        form = StatementUploadForm(request.POST, request.FILES)
        settlement = request.POST.get("kind") == SETTLEMENT
        (settlement_can_import if settlement else statement_can_import)(user).require(PermissionDenied)

        def run(data: dict[str, Any]) -> str:
            upload = data["file"]
            if settlement:
                counts = settlement_import(data=upload.read(), actor=user)
                return f"Settlement report: {counts['lines']} line(s), {counts['breaks']} break(s)."
            imported = statement_import(data=upload.read(), filename=upload.name or "statement", actor=user)
            return f"Imported {imported.lines_new} new line(s) of {imported.lines_total}; matching runs now."

        refused = _submit(request, form, run)
        if refused is None:
            return redirect("payments-statements")
        status = refused
    return render(
        request,
        "payments/statements.html",
        {
            "imports": statement_import_list(actor=user),
            "lines": statement_line_list(actor=user),
            "can_import": statement_can_import(user) or settlement_can_import(user),
            "form": form,
        },
        status=status,
    )


def break_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    brk = break_get_for(user, pk, for_write=request.method == "POST")
    form = BreakResolveForm()
    status = 200
    if request.method == "POST":
        form = BreakResolveForm(request.POST)

        def resolve(data: dict[str, Any]) -> str:
            break_resolve_by_hand(break_id=pk, actor=user, note=data["note"])
            return "Break resolved."

        refused = _submit(request, form, resolve)
        if refused is None:
            return redirect("payments-break", pk=pk)
        status = refused
        brk = break_get_for(user, pk, for_write=False)
    return render(
        request,
        "payments/break.html",
        {"brk": brk, "form": form, "can_resolve": break_can_resolve(user, brk)},
        status=status,
    )


def payments_panel(user: User, client: Client, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The money section of the client 360: balances (ledger and available), deposits, withdrawals."""
    return "payments/_client_panel.html", {
        "ledger_accounts": client_ledger_accounts(client),
        "client_deposits": deposit_list(actor=user, client=client, limit=10),
        "client_withdrawals": withdrawal_list(actor=user, client=client, limit=10),
        "can_withdraw": withdrawal_svc.withdrawal_can_enter(user, client),
        "can_view_payments": payments_can_view(user),
        "can_make_payment_link": deposit_can_create_link(user, client),
    }


# --- starting deposits: the staff payment link ---------------------------------------------------


def deposit_link(request: HttpRequest, client_pk: int) -> HttpResponse:
    """Staff make a payment link for a client who asked (by phone, by e-mail): a card checkout at
    the PSP routing picks, or the bank details and reference to pay to. The client pays; nobody
    here enters card data. (Clients start deposits themselves in the client area, through the API,
    which calls the same services.)"""
    user = _user(request)
    deposit_can_create_link(user, None).require(PermissionDenied)  # by role, then by object
    client = client_get_for(user, client_pk, for_write=False)
    deposit_can_create_link(user, client).require(PermissionDenied)
    initial = {"channel": Channel.CARD, "currency": client.base_currency or "EUR", "idempotency_key": uuid.uuid4().hex}
    form = PaymentLinkForm(request.POST or None, initial=initial)
    status, started = 200, dict[str, Any]()
    if request.method == "POST":

        def start(data: dict[str, Any]) -> str:
            if data["channel"] == Channel.CARD:
                deposit, url = deposit_start_card(
                    client=client, amount=data["amount"], currency=data["currency"], requested_by=user,
                    return_url=settings.PAYMENT_LINK_RETURN_URL, idempotency_key=f"link:{data['idempotency_key']}",
                )  # fmt: skip
                started.update(deposit=deposit, checkout_url=url)
            else:
                instructions = deposit_start_bank(
                    client=client, amount=data["amount"], currency=data["currency"], requested_by=user,
                    idempotency_key=f"link:{data['idempotency_key']}",
                )  # fmt: skip
                started.update(deposit=instructions.deposit, bank=instructions)
            return f"Deposit {started['deposit'].reference} started: send the client the details below."

        refused = _submit(request, form, start)
        status = refused or 200
        if refused is None:  # a new form (a new key) for the next link
            form = PaymentLinkForm(initial=initial)
    return render(request, "payments/deposit_link.html", {"client": client, "form": form, **started}, status=status)


# --- PSP routing -----------------------------------------------------------------------------------


def routing(request: HttpRequest) -> HttpResponse:
    """The card routing table in the order it is tried, the changes waiting for a second person,
    and (finance) the form to ask for one."""
    user = _viewer(request)
    providers = list(card_providers())
    can_request = routing_can_request_change(user)
    form = RoutingChangeForm(request.POST or None, providers=providers)
    status = 200
    if request.method == "POST":
        can_request.require(PermissionDenied)

        def ask(data: dict[str, Any]) -> str:
            fields = {k: data[k] for k in ("priority", "currency", "countries", "min_amount", "max_amount", "provider")}
            if data["op"] == "edit":  # an edit keeps what the form leaves empty
                seen = rule_snapshot(data["rule"])
                fields = {k: (v if v not in (None, "") else seen[k]) for k, v in fields.items()}
            approval = routing_change_request(actor=user, op=data["op"], rule=data["rule"], fields=fields,
                                              reason=data["reason"])  # fmt: skip
            return f"Asked for approval: {approval.summary}"

        refused = _submit(request, form, ask)
        if refused is None:
            return redirect("payments-routing")
        status = refused
    rules = routing_rule_list()
    return render(
        request,
        "payments/routing.html",
        {"rules": rules, "providers": providers, "default_provider": providers[0] if providers else "",
         "pending": routing_pending_changes(), "form": form, "can_request": can_request},
        status=status,
    )  # fmt: skip


# --- chargebacks ----------------------------------------------------------------------------------


def chargebacks(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    status = request.GET.get("status", "open")
    return render(
        request,
        "payments/chargebacks.html",
        {
            "cases": chargeback_list(actor=user, status=status),
            "status": status,
            "statuses": [("open", "Open"), *ChargebackStatus.choices, ("all", "All")],
        },
    )


def chargeback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    case = chargeback_get_for(user, pk, for_write=request.method == "POST")
    form = ChargebackRespondForm()
    status = 200
    if request.method == "POST":
        form = ChargebackRespondForm(request.POST)

        def respond(data: dict[str, Any]) -> str:
            chargeback_svc.chargeback_respond(case_id=pk, actor=user, note=data["note"])
            return "Response sent to the payment provider with the evidence pack."

        refused = _submit(request, form, respond) if request.POST.get("action") == "respond" else 400
        if refused is None:
            return redirect("payments-chargeback", pk=pk)
        status = refused
        case = chargeback_get_for(user, pk, for_write=False)
    return render(
        request,
        "payments/chargeback.html",
        {
            "case": case,
            "form": form,
            "can_respond": chargeback_svc.chargeback_can_respond(user, case),
            "can_export_evidence": evidence_pack_can_export(user),
            "opened_postings": entry_posting_lines(case.opened_entry),
            "closing_postings": entry_posting_lines(case.closing_entry),
            # what was sent, or what the response would send now
            "evidence": case.evidence if case.evidence_sha256 else chargeback_svc.chargeback_evidence(case),
            "evidence_sent": bool(case.evidence_sha256),
            # kept with the case, never sent to the PSP
            "records": case_record_sections(case.deposit),
        },
        status=status,
    )
