"""Payment pages (finance works deposits, withdrawals, statements and breaks here) and the PSP's
webhook endpoint. Views parse input, call one service, and render."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Client
from audit.context import Actor, acting_as
from ops.errors import OpsError
from ops.models import ApprovalStatus, Decision, User
from ops.roles import Role
from ops.selectors import approvals_waiting_for
from ops.services.approvals import approval_decide
from payments import errors
from payments.errors import PaymentError
from payments.models import (
    Channel,
    Deposit,
    DepositStatus,
    LedgerAccount,
    ReconciliationBreak,
    StatementImport,
    StatementLine,
    WebhookStatus,
    Withdrawal,
    WithdrawalStatus,
)
from payments.providers import provider_named
from payments.services import deposits as deposit_svc
from payments.services import withdrawals as withdrawal_svc
from payments.services.bank import statement_import
from payments.services.reconciliation import settlement_import
from payments.services.webhooks import WebhookRejected, inbound_event_process, inbound_event_store
from payments.tasks import inbound_events_drain_task

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _can_view(user: User) -> bool:
    return (
        any(
            user.has_perm(p)
            for p in ("ops.handle_deposits", "ops.handle_withdrawals", "ops.view_fund_flows", "ops.view_audit_trail")
        )
        or user.groups.filter(name="compliance").exists()
    )


# --- the PSP's callbacks --------------------------------------------------------------------------


@csrf_exempt
@login_not_required
@require_POST
def psp_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """A configured PSP's callbacks (``/webhooks/<its name>/``); its adapter says where the
    signature is and how to check it."""
    adapter = provider_named(provider)
    if adapter is None:
        return JsonResponse({"error": errors.PROVIDER_UNKNOWN.format(provider=provider)}, status=404)
    with acting_as(Actor.system(f"webhook:{adapter.name}")):  # the PSP acts; its signature says so
        return _psp_webhook(request, adapter.name, adapter.signature_header)


def _psp_webhook(request: HttpRequest, provider: str, signature_header: str) -> HttpResponse:
    try:
        stored, new = inbound_event_store(
            provider=provider,
            body=request.body,
            signature=request.headers.get(signature_header),
            ip=request.META.get("REMOTE_ADDR", ""),
        )
    except WebhookRejected as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    if settings.WEBHOOK_APPLY == "queued" and stored.status == WebhookStatus.RECEIVED:
        # stored (committed): a worker applies it with whatever else is waiting. Should the broker be
        # down, the minute's drain (beat) still finds it.
        try:
            inbound_events_drain_task.delay()
        except Exception:  # the callback is safe in the inbox either way
            logger.warning("webhook: could not queue the inbox drain; beat's drain will apply event %s", stored.pk)
        return JsonResponse({"received": True, "duplicate": not new, "status": stored.status, "result": ""})
    processed = inbound_event_process(event_pk=stored.pk)  # stored (committed) first, then applied once
    return JsonResponse(
        {"received": True, "duplicate": not new, "status": processed.status, "result": processed.result}
    )


# --- pages ----------------------------------------------------------------------------------------


def payments_home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not _can_view(user):
        raise PermissionDenied
    status = request.GET.get("status", "")
    withdrawals = Withdrawal.objects.select_related("client").order_by("-id")
    deposits = Deposit.objects.select_related("client").order_by("-id")
    if status in WithdrawalStatus.values:
        withdrawals = withdrawals.filter(status=status)
    return render(
        request,
        "payments/home.html",
        {
            "withdrawals": withdrawals[:50],
            "deposits": deposits[:50],
            "status": status,
            "statuses": WithdrawalStatus.choices,
            "breaks": ReconciliationBreak.objects.filter(resolved_at__isnull=True)[:20],
        },
    )


def deposit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if not _can_view(user):
        raise PermissionDenied
    deposit = get_object_or_404(Deposit.objects.select_related("client", "entry"), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "release":
                deposit_svc.deposit_release(deposit_id=pk, actor=user, reason=request.POST.get("reason", ""))
                messages.success(request, f"{deposit.reference} credited to the client.")
            elif action == "refund":
                deposit_svc.deposit_refund(
                    deposit_id=pk, actor=user, reason_code=request.POST.get("reason_code", ""),
                    note=request.POST.get("note", ""),
                )  # fmt: skip
                messages.success(request, f"{deposit.reference} returned to the payer.")
        except PaymentError as exc:
            messages.error(request, exc.message)
            return _deposit_page(request, deposit, status=exc.status)
        return redirect("payments-deposit", pk=pk)
    return _deposit_page(request, deposit)


def _deposit_page(request: HttpRequest, deposit: Deposit, status: int = 200) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "payments/deposit.html",
        {
            "deposit": deposit,
            "postings": deposit.entry.postings.select_related("account") if deposit.entry else [],
            "can_decide": deposit.status == DepositStatus.REVIEW and user.has_perm("ops.handle_deposits"),
            "refund_reasons": deposit_svc.REFUND_REASONS,
            "refund_exception": deposit_svc.deposit_refund_exception(deposit),
        },
        status=status,
    )


def withdrawal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if not _can_view(user):
        raise PermissionDenied
    withdrawal = get_object_or_404(Withdrawal.objects.select_related("client", "source", "hold"), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "approve":  # a decision of the one maker-checker engine, on the request shown
                if withdrawal.approval_request_id is None:
                    raise PaymentError(errors.WITHDRAW_NO_REVIEW.format(reference=withdrawal.reference), status=409)
                approval_decide(
                    request_id=withdrawal.approval_request_id, checker=user, decision=Decision.APPROVE,
                    reason=request.POST.get("reason", ""), seen_payload_hash=request.POST.get("payload_hash") or None,
                )  # fmt: skip
                messages.success(request, "Approval recorded.")
            elif action == "reject":
                withdrawal_svc.withdrawal_reject(
                    withdrawal_id=pk, actor=user, reason_code=request.POST.get("reason_code", ""),
                    note=request.POST.get("note", ""),
                )  # fmt: skip
                messages.success(request, "Withdrawal rejected; the funds are released.")
            elif action == "execute":
                withdrawal_svc.withdrawal_payout_execute(withdrawal_id=pk, actor=user)
                messages.success(request, "Payout sent to the channel.")
        except PaymentError as exc:
            messages.error(request, exc.message)
            return _withdrawal_page(request, withdrawal, status=exc.status)
        except OpsError as exc:
            messages.error(request, str(exc))
            return _withdrawal_page(request, withdrawal, status=409)
        return redirect("payments-withdrawal", pk=pk)
    return _withdrawal_page(request, withdrawal)


def _withdrawal_page(request: HttpRequest, withdrawal: Withdrawal, status: int = 200) -> HttpResponse:
    user = _user(request)
    withdrawal.refresh_from_db()
    review = withdrawal.approval_request
    decisions = list(review.decisions.select_related("checker")) if review else []
    levels = [
        {"role": Role(role).label, "decision": decisions[i] if i < len(decisions) else None}
        for i, role in enumerate(review.required_roles if review else [])
    ]
    waiting = review is not None and review.status == ApprovalStatus.PENDING
    return render(
        request,
        "payments/withdrawal.html",
        {
            "w": withdrawal,
            "review": review,
            "levels": levels,
            "next_level": Role(review.required_roles[len(decisions)]) if review and waiting else None,
            # the engine's own inbox says whether this user may decide the request now
            "can_approve": review is not None and waiting and approvals_waiting_for(user).filter(pk=review.pk).exists(),
            "can_reject": withdrawal.status
            in (WithdrawalStatus.RECEIVED, WithdrawalStatus.UNDER_REVIEW, WithdrawalStatus.APPROVED)
            and (user.has_perm("ops.handle_withdrawals") or user.groups.filter(name="compliance").exists()),
            "can_execute": withdrawal.status == WithdrawalStatus.APPROVED and user.has_perm("ops.handle_withdrawals"),
            "reject_reasons": withdrawal_svc.REJECT_REASONS,
            "rejected_because": withdrawal_svc.CLIENT_REASONS.get(withdrawal.reason_code, withdrawal.reason_code),
            "postings": withdrawal.entry.postings.select_related("account") if withdrawal.entry else [],
        },
        status=status,
    )


def withdrawal_new(request: HttpRequest, client_pk: int) -> HttpResponse:
    """Finance enters a withdrawal the client asked for by phone or e-mail (the client area and
    the API use the same service)."""
    user = _user(request)
    if not user.has_perm("ops.handle_withdrawals"):
        raise PermissionDenied
    client = get_object_or_404(Client, pk=client_pk)
    sources = LedgerAccount.objects.filter(client=client).select_related("balance").order_by("code")
    form: dict[str, Any] = {"method": "bank", "destination_name": client.display_name}
    status = 200
    if request.method == "POST":
        form = request.POST.dict()
        source = sources.filter(pk=form.get("source") or 0).first()
        try:
            if source is None:
                raise PaymentError("source: choose the wallet or trading account the money comes from.", field="source")
            withdrawal = withdrawal_svc.withdrawal_request(
                client=client, source=source, amount=form.get("amount", ""), method=form.get("method", ""),
                destination=form.get("destination", ""), destination_name=form.get("destination_name", ""),
                requested_by=user,
            )  # fmt: skip
            messages.success(request, f"Withdrawal {withdrawal.reference} recorded: {withdrawal.get_status_display()}.")
            return redirect("payments-withdrawal", pk=withdrawal.pk)
        except PaymentError as exc:
            messages.error(request, exc.message)
            status = exc.status
    return render(
        request,
        "payments/withdrawal_new.html",
        {"client": client, "sources": sources, "form": form, "channels": Channel.choices},
        status=status,
    )


def statements(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not _can_view(user):
        raise PermissionDenied
    status = 200
    if request.method == "POST":
        if not user.has_perm("ops.handle_deposits"):
            raise PermissionDenied
        upload = request.FILES.get("file")
        try:
            if upload is None or not upload.size:
                raise PaymentError("file: choose a statement file to import.", field="file")
            data = upload.read()
            if request.POST.get("kind") == "settlement":
                counts = settlement_import(data=data)
                messages.success(request, f"Settlement report: {counts['lines']} line(s), {counts['breaks']} break(s).")
            else:
                imported = statement_import(data=data, filename=upload.name or "statement")
                messages.success(
                    request, f"Imported {imported.lines_new} new line(s) of {imported.lines_total}; matching runs now."
                )
            return redirect("payments-statements")
        except PaymentError as exc:
            messages.error(request, exc.message)
            status = exc.status
    return render(
        request,
        "payments/statements.html",
        {
            "imports": StatementImport.objects.select_related("bank_account")[:20],
            "lines": StatementLine.objects.select_related("bank_account").order_by("-id")[:100],
            "can_import": user.has_perm("ops.handle_deposits"),
        },
        status=status,
    )


def break_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if not _can_view(user):
        raise PermissionDenied
    return render(request, "payments/break.html", {"brk": get_object_or_404(ReconciliationBreak, pk=pk)})


def payments_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The money section of the client 360: balances (ledger and available), deposits, withdrawals."""
    return "payments/_client_panel.html", {
        "ledger_accounts": LedgerAccount.objects.filter(client=client).select_related("balance").order_by("code"),
        "client_deposits": Deposit.objects.filter(client=client).order_by("-id")[:10],
        "client_withdrawals": Withdrawal.objects.filter(client=client).order_by("-id")[:10],
        "can_withdraw": user.has_perm("ops.handle_withdrawals"),
    }
