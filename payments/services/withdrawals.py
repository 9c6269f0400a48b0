"""Withdrawals: intake validation, pre-checks, funds held at request time, approval levels from
the policy table, payout through the channel's adapter after commit, and the result posted to
the ledger (hold captured and wallet debited, or hold released).

Request -> received -> (auto) approved | under review -> approvals (finance[, compliance]) ->
approved -> payout executed (processing) -> paid | failed; rejected from any step before payout.

Review is the one maker-checker engine's action ``payments.withdrawal`` (``ops.services.approvals``):
the withdrawal sent to review opens an approval request whose payload pins what is paid where, the
levels come from the policy table, the maker is the staff member who entered the withdrawal (or the
client, for their own request: then no staff member is the maker and any may check). The final
approval moves the withdrawal to approved; a rejection, the maker's cancellation or the request's
expiry rejects it and releases the funds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.capabilities import Capability, client_can
from accounts.models import Client
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record
from kyc.selectors import kyc_checklist
from ops.errors import OpsError
from ops.events import EventType
from ops.models import ApprovalRequest, ApprovalStatus, RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role
from ops.selectors import approvals_waiting_for
from ops.services.approvals import approval_create, approval_withdraw
from ops.services.events import event_publish
from ops.services.interactions import client_notify
from ops.services.work_items import work_item_open, work_item_resolve_for_subject
from payments import errors
from payments.currencies import amount_str, money_parse, money_str
from payments.errors import IdempotencyConflict, PaymentError
from payments.locks import withdrawal_lock
from payments.models import (
    AccountKind,
    Approval,
    Channel,
    Deposit,
    DepositStatus,
    EntryKind,
    HoldStatus,
    LedgerAccount,
    Withdrawal,
    WithdrawalPolicy,
    WithdrawalStatus,
)
from payments.outcomes import Outcome
from payments.providers import PspError, get_provider
from payments.selectors import chargebacks_open_for, client_visible
from payments.services.bank import bank_account_in
from payments.services.deposits import next_reference, payer_name_score
from payments.services.ledger import (
    credit,
    debit,
    hold_place,
    hold_release,
    ledger_post,
    psp_clearing_account,
    request_hash,
)

REJECT_REASONS = {
    "kyc_incomplete": "we need up-to-date identity documents first",
    "source_of_funds": "we need to confirm the source of the funds first",
    "third_party_destination": "withdrawals can only be paid to an account in your own name",
    "method_mismatch": "funds must be returned to the method they came from",
    "suspected_fraud": "the request did not pass our security checks",
    "client_request": "you asked us to cancel it",
}
# set by the approval engine, not chosen by a person: a closed review (see ``withdrawal_review_closed``)
REVIEW_CLOSED_REASONS = {
    ApprovalStatus.REJECTED: ("declined_at_review", "it was declined at review"),
    ApprovalStatus.CANCELLED: ("entry_withdrawn", "the request was withdrawn"),
    ApprovalStatus.EXPIRED: ("review_expired", "we could not complete our review in time; please ask again"),
}
CLIENT_REASONS = REJECT_REASONS | dict(REVIEW_CLOSED_REASONS.values())
APPROVAL_ACTION = "payments.withdrawal"
OPEN = (
    WithdrawalStatus.RECEIVED,
    WithdrawalStatus.UNDER_REVIEW,
    WithdrawalStatus.APPROVED,
    WithdrawalStatus.PROCESSING,
)
LEVELS: dict[str, list[Role]] = {
    Approval.AUTO: [],
    Approval.FINANCE: [Role.FINANCE],
    Approval.FINANCE_COMPLIANCE: [Role.FINANCE, Role.COMPLIANCE],
}
# findings that need the second (compliance) level whatever the amount
COMPLIANCE_FLAGS = {"first_withdrawal", "high_risk_client", "name_mismatch"}


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    detail: str
    hard: bool = True  # a failed hard check refuses the request; a soft one raises the approval level


def _snapshot(w: Withdrawal) -> dict[str, Any]:
    return {"status": w.status, "amount": str(w.amount), "currency": w.currency, "approval": w.approval}


def _context(w: Withdrawal) -> dict[str, Any]:
    return {
        "name": w.client.display_name,
        "reference": w.client.reference,
        "withdrawal": w.reference,
        "amount": money_str(w.amount, w.currency),
        "destination": f"{'card' if w.method == Channel.CARD else 'bank account'} {w.destination[-8:]}",
    }


# --- intake -----------------------------------------------------------------------------------


def _method_check(client: Client, method: str, destination: str, currency: str) -> Check:
    credited = Deposit.objects.filter(client=client, currency=currency, status=DepositStatus.CREDITED)
    card_in = credited.filter(channel=Channel.CARD).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    card_out = Withdrawal.objects.filter(
        client=client, currency=currency, method=Channel.CARD, status__in=[*OPEN, WithdrawalStatus.PAID]
    ).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    if method == Channel.CARD:
        cards = set(credited.filter(channel=Channel.CARD).values_list("payer_account", flat=True))
        if destination not in cards:
            return Check("method", False, f"card {destination[-8:]} was never used to deposit")
        return Check("method", True, "back to a card the client deposited with")
    if card_in - card_out > 0:
        return Check(
            "method",
            False,
            f"{money_str(card_in - card_out, currency)} of card deposits must be returned to the card first",
        )
    return Check("method", True, "bank transfer; no card deposits left to return")


def _pre_checks(
    client: Client, source: LedgerAccount, amount: Decimal, destination_name: str, policy: WithdrawalPolicy
) -> list[Check]:
    from payments.services.transfers import free_margin

    checks: list[Check] = []
    ok = client_can(client, Capability.WITHDRAW)
    checks.append(Check("status", ok, f"client is {client.get_status_display().lower()}"))
    rows = kyc_checklist(client)
    bad = [f"{r.kind.label.lower()} {r.state}" for r in rows if r.state not in ("accepted", "expiring")]
    checks.append(Check("kyc", not bad, "; ".join(bad) if bad else "all required documents accepted and in date"))
    balance = source.balance
    balance.refresh_from_db()
    available = balance.ledger - balance.held
    checks.append(Check("balance", available >= amount, f"available {money_str(available, source.currency)}"))
    if source.kind == AccountKind.TRADING:
        free = free_margin(source)
        checks.append(
            Check("margin", amount <= free, f"free margin on the platform {money_str(free, source.currency)}")
        )
    else:
        checks.append(Check("margin", True, "wallet funds hold no margin"))
    disputed = Deposit.objects.filter(client=client, status=DepositStatus.REVIEW).count()
    checks.append(
        Check("disputes", disputed == 0, f"{disputed} held deposit(s) unresolved" if disputed else "none open")
    )
    charged_back = chargebacks_open_for(client).count()
    checks.append(
        Check(
            "chargebacks",
            charged_back == 0,
            errors.CHARGEBACK_BLOCKS_WITHDRAWAL.format(count=charged_back) if charged_back else "none open",
        )
    )
    since = timezone.now() - timedelta(hours=24)
    recent = Withdrawal.objects.filter(client=client, currency=source.currency, created_at__gte=since).exclude(
        status=WithdrawalStatus.REJECTED
    )
    count = recent.count() + 1
    total = (recent.aggregate(s=Sum("amount"))["s"] or Decimal("0")) + amount
    fast = count > policy.velocity_count_24h or total > policy.velocity_amount_24h
    checks.append(
        Check("velocity", not fast, f"{count} withdrawal(s), {money_str(total, source.currency)} in 24 h", hard=False)
    )
    first = not Withdrawal.objects.filter(client=client, status=WithdrawalStatus.PAID).exists()
    checks.append(
        Check("first_withdrawal", not first, "first withdrawal" if first else "has been paid before", hard=False)
    )
    quick_since = timezone.now() - timedelta(hours=policy.quick_withdrawal_hours)
    last_deposit = Deposit.objects.filter(
        client=client, status=DepositStatus.CREDITED, completed_at__gte=quick_since
    ).aggregate(s=Sum("amount"))["s"]
    quick = bool(last_deposit) and amount >= Decimal("0.8") * last_deposit
    checks.append(
        Check(
            "deposit_then_withdraw",
            not quick,
            f"{money_str(last_deposit, source.currency)} deposited in the last {policy.quick_withdrawal_hours} h"
            if quick
            else "no recent deposit pattern",
            hard=False,
        )
    )
    score = payer_name_score(client, destination_name)
    checks.append(Check("name_mismatch", score >= 85, f"beneficiary name similarity {score}/100", hard=False))
    high = client.risk_level == RiskLevel.HIGH
    checks.append(Check("high_risk_client", not high, f"client risk {client.risk_level}", hard=False))
    return checks


def _approval_for(amount: Decimal, flags: set[str], policy: WithdrawalPolicy) -> Approval:
    if flags & COMPLIANCE_FLAGS or amount > policy.compliance_above:
        return Approval.FINANCE_COMPLIANCE
    if flags or amount > policy.auto_approve_max:
        return Approval.FINANCE
    return Approval.AUTO


def withdrawal_can_enter(actor: User, client: Client) -> Decision:
    """May enter a withdrawal for the client (finance, for a client they work on). The client's own
    request (the client area) has no staff actor; what the client may do is the pre-checks'."""
    if not actor.has_perm("ops.handle_withdrawals"):
        return deny(errors.NOT_ALLOWED.format(verb="enter withdrawals"))
    if not client_visible(actor, client.pk):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def withdrawal_request(
    *,
    client: Client,
    source: LedgerAccount,
    amount: object,
    method: str,
    destination: str,
    destination_name: str,
    requested_by: User | None = None,
    idempotency_key: str | None = None,
) -> Withdrawal:
    """Validate, pre-check, hold the funds and route to the approval level the policy picks.
    Refused requests change nothing and say which checks failed and why."""
    if requested_by is not None:
        decision = withdrawal_can_enter(requested_by, client)
        if not decision:
            raise PaymentError(decision.reason, status=403)
    if source.client_id != client.pk or not source.is_client:
        raise PaymentError("source: not one of the client's wallets or trading accounts.", field="source")
    value = money_parse(amount, source.currency)
    if method not in Channel.values:
        raise PaymentError(
            errors.UNKNOWN_CHANNEL.format(channel=method, choices=", ".join(Channel.values)), field="method"
        )
    destination = destination.strip().replace(" ", "") if method == Channel.BANK else destination.strip()
    if not destination:
        raise PaymentError("destination: say where the money goes (card fingerprint or IBAN).", field="destination")
    fingerprint = request_hash(
        {"client": client.pk, "source": source.pk, "amount": str(value), "method": method,
         "destination": destination, "destination_name": destination_name}
    )  # fmt: skip
    if idempotency_key:
        existing = Withdrawal.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return existing
    policy = WithdrawalPolicy.objects.filter(currency=source.currency).first()
    if policy is None:
        raise PaymentError(errors.WITHDRAW_NO_POLICY.format(currency=source.currency), field="currency")
    if value < policy.minimum:
        raise PaymentError(
            errors.WITHDRAW_BELOW_MIN.format(
                currency=source.currency, minimum=money_str(policy.minimum, source.currency)
            ),
            field="amount",
        )
    if value > policy.maximum:
        raise PaymentError(
            errors.WITHDRAW_ABOVE_MAX.format(
                currency=source.currency, maximum=money_str(policy.maximum, source.currency)
            ),
            field="amount",
        )
    method_check = _method_check(client, method, destination, source.currency)
    if not method_check.ok:
        raise PaymentError(errors.WITHDRAW_METHOD_MISMATCH.format(detail=method_check.detail), field="method")
    checks = [method_check, *_pre_checks(client, source, value, destination_name, policy)]
    failed = [c for c in checks if c.hard and not c.ok]
    if failed:
        raise PaymentError(
            errors.WITHDRAW_CHECKS_FAILED.format(failures="; ".join(f"{c.check}: {c.detail}" for c in failed)),
            field="amount" if {c.check for c in failed} <= {"balance", "margin"} else "client",
            status=422,
        )
    flags = {c.check for c in checks if not c.hard and not c.ok}
    return _withdrawal_create(
        client=client, source=source, value=value, method=method, destination=destination,
        destination_name=destination_name, requested_by=requested_by, idempotency_key=idempotency_key,
        fingerprint=fingerprint, checks=checks, flags=flags, approval=_approval_for(value, flags, policy),
    )  # fmt: skip


@transaction.atomic(durable=True)
def _withdrawal_create(
    *,
    client: Client,
    source: LedgerAccount,
    value: Decimal,
    method: str,
    destination: str,
    destination_name: str,
    requested_by: User | None,
    idempotency_key: str | None,
    fingerprint: str,
    checks: list[Check],
    flags: set[str],
    approval: Approval,
) -> Withdrawal:
    reference = next_reference("W")
    hold = hold_place(account=source, amount=value, reason=f"withdrawal {reference}")  # the final balance check
    withdrawal = Withdrawal(
        reference=reference,
        client=client,
        source=source,
        amount=value,
        currency=source.currency,
        method=method,
        destination=destination,
        destination_name=destination_name[:200],
        checks=[asdict(c) for c in checks],
        flags=sorted(flags),
        approval=approval,
        hold=hold,
        idempotency_key=idempotency_key or None,
        request_hash=fingerprint,
        requested_by=requested_by,
    )
    try:
        with transaction.atomic():
            withdrawal.save()
    except IntegrityError:  # the same idempotency key, a moment ago
        raise IdempotencyConflict(idempotency_key or "") from None
    audit_record(
        action=AuditAction.WITHDRAWAL_REQUESTED,
        subject=withdrawal,
        after=_snapshot(withdrawal) | {"flags": withdrawal.flags, "hold": hold.pk, "method": method},
    )
    if source.kind == AccountKind.TRADING:
        _platform_hold_after_commit(hold.pk)
    if approval == Approval.AUTO:
        with acting_as(Actor.automation("withdrawal_auto_approve")):
            _approve(withdrawal, reason="within the automatic approval limit, no findings")
    else:
        withdrawal.send_to_review()
        withdrawal.approval_request = _review_open(withdrawal)
        withdrawal.save()
        work_item_open(
            queue="withdrawal_approval",
            subject=withdrawal,
            title=f"Withdrawal {reference}: {money_str(value, withdrawal.currency)} ({withdrawal.get_approval_display()})",
            risk_level=RiskLevel.HIGH if flags & COMPLIANCE_FLAGS else RiskLevel.MEDIUM if flags else RiskLevel.LOW,
            amount_at_stake=value,
            details={
                "flags": sorted(flags),
                "levels": [r.value for r in LEVELS[approval]],
                "approval_request": withdrawal.approval_request.pk,
            },
        )
    client_notify(
        subject=client, recipient=client.email, template="payments.withdrawal_received",
        context=_context(withdrawal) | {"review": approval != Approval.AUTO},
    )  # fmt: skip
    return withdrawal


def _platform_hold_after_commit(hold_id: int) -> None:
    from payments.tasks import platform_hold_push_task

    transaction.on_commit(lambda: platform_hold_push_task.delay(hold_id=hold_id))


# --- approval (the maker-checker engine's action "payments.withdrawal") ---------------------------


def withdrawal_approval_payload(withdrawal: Withdrawal) -> dict[str, Any]:
    """What the checkers approve: the maker-checker payload (its hash is pinned at submission).
    The amount has the currency's minor units whether or not it was read back from the database."""
    return {
        "withdrawal": withdrawal.reference,
        "client": withdrawal.client.reference,
        "source": withdrawal.source.code,
        "amount": str(money_parse(withdrawal.amount, withdrawal.currency)),
        "currency": withdrawal.currency,
        "method": withdrawal.method,
        "destination": withdrawal.destination,
        "destination_name": withdrawal.destination_name,
        "approval": withdrawal.approval,
        "flags": list(withdrawal.flags),
    }


def _review_open(withdrawal: Withdrawal) -> ApprovalRequest:
    """Open the approval request (in the withdrawal's transaction). The maker is the staff member
    who entered the withdrawal, so they can never approve it; a client's own request has the client
    as its maker (no staff member), as a bank's four eyes apply between staff."""
    requested_by = withdrawal.requested_by
    client = withdrawal.client
    flags = ", ".join(str(f).replace("_", " ") for f in withdrawal.flags) or "none"
    try:
        return approval_create(
            action=APPROVAL_ACTION,
            subject=withdrawal,
            payload=withdrawal_approval_payload(withdrawal),
            maker=requested_by,
            maker_label="" if requested_by else f"client {client.reference} ({client.display_name})",
            reason=f"{withdrawal.get_approval_display()} by the withdrawal policy; findings: {flags}",
        )
    except OpsError as exc:
        raise PaymentError(str(exc), status=403) from None


def withdrawal_review_levels(withdrawal: Withdrawal) -> list[Role]:
    """The approval levels the policy table gave this withdrawal (the engine's policy callback)."""
    return LEVELS[withdrawal.approval]


def withdrawal_review_validate(withdrawal: Withdrawal, payload: dict[str, Any]) -> None:
    """Before submission and again before the final approval executes: the withdrawal is still
    under review and still the one the payload describes."""
    if withdrawal.status != WithdrawalStatus.UNDER_REVIEW:
        raise PaymentError(
            errors.WITHDRAW_BAD_STATE.format(reference=withdrawal.reference, status=withdrawal.get_status_display().lower(), verb="approved"),
            status=409,
        )  # fmt: skip
    if payload != withdrawal_approval_payload(withdrawal):
        raise PaymentError(errors.WITHDRAW_PAYLOAD_DIFFERS.format(reference=withdrawal.reference), status=409)
    _chargeback_stop(withdrawal)


def withdrawal_controls_now(withdrawal: Withdrawal) -> None:
    """The withdrawal's controls run again now, before an approval proposed by an agent is carried
    out: the review's own checks (still under review, unchanged, no chargeback open), the hard
    pre-checks that do not count the held funds again (client status, KYC documents, held deposits,
    chargebacks), the policy's limits as they stand today, and the hold still on the funds. A 409
    naming every control that fails."""
    withdrawal_review_validate(withdrawal, withdrawal_approval_payload(withdrawal))
    client = withdrawal.client
    failures: list[str] = []
    if not client_can(client, Capability.WITHDRAW):
        failures.append(f"status: client is {client.get_status_display().lower()}")
    bad = [
        f"{r.kind.label.lower()} {r.state}" for r in kyc_checklist(client) if r.state not in ("accepted", "expiring")
    ]
    if bad:
        failures.append("kyc: " + "; ".join(bad))
    disputed = Deposit.objects.filter(client=client, status=DepositStatus.REVIEW).count()
    if disputed:
        failures.append(f"disputes: {disputed} held deposit(s) unresolved")
    policy = WithdrawalPolicy.objects.filter(currency=withdrawal.currency).first()
    if policy is None:
        failures.append(errors.WITHDRAW_NO_POLICY.format(currency=withdrawal.currency))
    elif not policy.minimum <= withdrawal.amount <= policy.maximum:
        failures.append(
            f"limits: {money_str(withdrawal.amount, withdrawal.currency)} is outside "
            f"{money_str(policy.minimum, withdrawal.currency)} to {money_str(policy.maximum, withdrawal.currency)}"
        )
    if withdrawal.hold is None or withdrawal.hold.status != HoldStatus.ACTIVE:
        failures.append("hold: the funds are no longer held for this withdrawal")
    if failures:
        raise PaymentError(errors.WITHDRAW_CHECKS_FAILED.format(failures="; ".join(failures)), status=409)


def _chargeback_stop(withdrawal: Withdrawal) -> None:
    """Withdrawals stop while the client has a chargeback open (a 409 naming it): at approval and
    at payout, for withdrawals entered before the dispute arrived."""
    case = chargebacks_open_for(withdrawal.client_id).first()
    if case is not None:
        raise PaymentError(
            errors.WITHDRAW_CHARGEBACK_OPEN.format(client=withdrawal.client.display_name, reference=case.reference),
            status=409,
        )


def withdrawal_review_approved(*, withdrawal_id: int, request: ApprovalRequest) -> dict[str, Any]:
    """The final approval (the engine's handler, in its transaction, exactly once): approved."""
    withdrawal = withdrawal_lock(withdrawal_id)
    withdrawal_review_validate(withdrawal, request.payload)
    _approve(withdrawal, reason=f"approval #{request.pk}: {_last_reason(request)}")
    return {"withdrawal": withdrawal.reference, "status": withdrawal.status}


def withdrawal_review_closed(*, withdrawal_id: int, request: ApprovalRequest) -> None:
    """The review closed without approval (a checker rejected it, the maker cancelled it, or it
    expired): the withdrawal is rejected and its funds released. Already settled: nothing to do."""
    withdrawal = withdrawal_lock(withdrawal_id)
    if withdrawal.status != WithdrawalStatus.UNDER_REVIEW:
        return
    code, _ = REVIEW_CLOSED_REASONS[ApprovalStatus(request.status)]
    note = f"approval #{request.pk} {request.get_status_display().lower()}"
    if request.status == ApprovalStatus.REJECTED:
        note += f": {_last_reason(request)}"
    _reject(withdrawal, reason_code=code, note=note)


def _last_reason(request: ApprovalRequest) -> str:
    last = request.decisions.order_by("-level").first()
    return last.reason if last is not None else request.reason


def _approve(withdrawal: Withdrawal, *, reason: str) -> None:
    before = _snapshot(withdrawal)
    withdrawal.approve()
    withdrawal.decided_at = timezone.now()
    withdrawal.save()
    audit_record(
        action=AuditAction.WITHDRAWAL_APPROVED,
        subject=withdrawal,
        before=before,
        after=_snapshot(withdrawal),
        reason=reason,
    )
    work_item_resolve_for_subject(queue="withdrawal_approval", subject=withdrawal, code="approved", note=reason)
    if withdrawal.approval == Approval.AUTO:
        _execute(withdrawal, executed_by=None)  # the happy path pays out on its own
    else:
        client_notify(
            subject=withdrawal.client, recipient=withdrawal.client.email, template="payments.withdrawal_approved",
            context=_context(withdrawal),
        )  # fmt: skip


REJECTABLE = (WithdrawalStatus.RECEIVED, WithdrawalStatus.UNDER_REVIEW, WithdrawalStatus.APPROVED)


def _bad_state(withdrawal: Withdrawal, done: str) -> str:
    return errors.WITHDRAW_BAD_STATE.format(
        reference=withdrawal.reference, status=withdrawal.get_status_display().lower(), verb=done
    )


def withdrawal_can_approve(actor: User, withdrawal: Withdrawal) -> Decision:
    """May decide the withdrawal's review now. The engine's inbox answers (the next level's role,
    not the maker, not an earlier checker, not expired); ``approval_decide`` enforces the same."""
    review = withdrawal.approval_request
    if review is None or review.status != ApprovalStatus.PENDING:
        return deny(errors.WITHDRAW_NO_REVIEW.format(reference=withdrawal.reference))
    if not client_visible(actor, withdrawal.client_id):
        return deny(errors.NOT_IN_SCOPE)
    if not approvals_waiting_for(actor).filter(pk=review.pk).exists():
        return deny(errors.WITHDRAW_NOT_YOURS_TO_DECIDE)
    return ALLOWED


def withdrawal_can_reject(actor: User, withdrawal: Withdrawal) -> Decision:
    """May reject the withdrawal and release its funds (finance or compliance, before the payout)."""
    if not actor.has_perm("ops.reject_withdrawals"):
        return deny(errors.NOT_ALLOWED.format(verb="reject withdrawals"))
    if withdrawal.status not in REJECTABLE:
        return deny(_bad_state(withdrawal, "rejected"))
    if not client_visible(actor, withdrawal.client_id):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def _require_reject(actor: User, withdrawal: Withdrawal) -> None:
    """A withdrawal past rejecting is a conflict (409); any other refusal is the actor's (403)."""
    if withdrawal.status not in REJECTABLE:
        raise PaymentError(_bad_state(withdrawal, "rejected"), status=409)
    decision = withdrawal_can_reject(actor, withdrawal)
    if not decision:
        raise PaymentError(decision.reason, status=403)


@transaction.atomic(durable=True)
def withdrawal_reject(*, withdrawal_id: int, actor: User, reason_code: str, note: str = "") -> Withdrawal:
    """Reject with a reason the client is told (before payout). A review still pending is
    withdrawn from the approval engine in the same transaction, so nobody decides it any more."""
    return withdrawal_reject_apply(withdrawal_id=withdrawal_id, actor=actor, reason_code=reason_code, note=note)


@transaction.atomic
def withdrawal_reject_apply(*, withdrawal_id: int, actor: User, reason_code: str, note: str = "") -> Withdrawal:
    """The rejection inside the caller's transaction (an agent's proposed rejection carried out when
    a finance or compliance officer approves it: the officer is ``actor``, with the same checks)."""
    _require_reject(actor, get_object_or_404(Withdrawal, pk=withdrawal_id))  # before anything is touched
    if reason_code not in REJECT_REASONS:
        raise PaymentError(errors.WITHDRAW_REASON_CODE.format(choices=", ".join(REJECT_REASONS)), field="reason_code")
    request_id = Withdrawal.objects.filter(pk=withdrawal_id).values_list("approval_request_id", flat=True).first()
    if request_id is not None:  # the engine's lock order: the request, then the withdrawal
        approval_withdraw(
            request_id=request_id, reason=f"withdrawal rejected ({reason_code}) by {actor.get_username()}"
        )
    withdrawal = withdrawal_lock(withdrawal_id)
    _require_reject(actor, withdrawal)  # again under the lock: the state may have moved on
    _reject(withdrawal, reason_code=reason_code, note=note)
    return withdrawal


def _reject(withdrawal: Withdrawal, *, reason_code: str, note: str) -> None:
    before = _snapshot(withdrawal)
    _release(withdrawal)
    withdrawal.reject()
    withdrawal.reason_code = reason_code
    withdrawal.decided_at = timezone.now()
    withdrawal.save()
    audit_record(
        action=AuditAction.WITHDRAWAL_REJECTED, subject=withdrawal, before=before,
        after=_snapshot(withdrawal) | {"reason_code": reason_code}, reason=note,
    )  # fmt: skip
    work_item_resolve_for_subject(
        queue="withdrawal_approval", subject=withdrawal, code="rejected", note=note or reason_code
    )
    client_notify(
        subject=withdrawal.client, recipient=withdrawal.client.email, template="payments.withdrawal_rejected",
        context=_context(withdrawal) | {"reason": CLIENT_REASONS[reason_code], "note": ""},
    )  # fmt: skip


def _release(withdrawal: Withdrawal) -> None:
    hold_release(hold=withdrawal.hold)
    if withdrawal.source.kind == AccountKind.TRADING:
        _platform_hold_after_commit(withdrawal.hold_id)


# --- payout -----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def withdrawal_payout_execute(*, withdrawal_id: int, actor: User) -> Withdrawal:
    """Finance executes the payout: the adapter is called after commit, once (idempotency key)."""
    withdrawal = withdrawal_lock(withdrawal_id)
    if withdrawal.status in (WithdrawalStatus.PROCESSING, WithdrawalStatus.PAID):
        raise PaymentError(
            errors.PAYOUT_ALREADY_EXECUTED.format(reference=withdrawal.reference, voucher=withdrawal.voucher or "pending"),
            status=409,
        )  # fmt: skip
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise PaymentError(_bad_state(withdrawal, "paid out"), status=409)
    _chargeback_stop(withdrawal)
    decision = withdrawal_can_execute(actor, withdrawal)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    _execute(withdrawal, executed_by=actor)
    return withdrawal


def withdrawal_can_execute(actor: User, withdrawal: Withdrawal) -> Decision:
    """May send the payout of an approved withdrawal (finance)."""
    if not actor.has_perm("ops.handle_withdrawals"):
        return deny(errors.NOT_ALLOWED.format(verb="execute payouts"))
    if withdrawal.status != WithdrawalStatus.APPROVED:
        return deny(_bad_state(withdrawal, "paid out"))
    if not client_visible(actor, withdrawal.client_id):
        return deny(errors.NOT_IN_SCOPE)
    case = chargebacks_open_for(withdrawal.client_id).first()
    if case is not None:
        return deny(
            errors.WITHDRAW_CHARGEBACK_OPEN.format(client=withdrawal.client.display_name, reference=case.reference)
        )
    return ALLOWED


def _execute(withdrawal: Withdrawal, *, executed_by: User | None) -> None:
    from payments.tasks import payout_send_task

    before = _snapshot(withdrawal)
    withdrawal.send_payout()
    withdrawal.executed_by = executed_by
    withdrawal.save()
    audit_record(
        action=AuditAction.WITHDRAWAL_PAYOUT_SENT, subject=withdrawal, before=before, after=_snapshot(withdrawal)
    )
    transaction.on_commit(lambda: payout_send_task.delay(withdrawal_id=withdrawal.pk))


def payout_send(*, withdrawal_id: int) -> str:
    """Call the channel's adapter (outside any transaction) and record the voucher."""
    withdrawal = Withdrawal.objects.get(pk=withdrawal_id)
    if withdrawal.status != WithdrawalStatus.PROCESSING or withdrawal.voucher:
        return withdrawal.voucher
    if withdrawal.method == Channel.CARD:
        try:
            voucher = get_provider(Channel.CARD).payout_create(
                idempotency_key=str(withdrawal.payout_key),
                amount=withdrawal.amount,
                currency=withdrawal.currency,
                destination=withdrawal.destination,
            )
        except PspError as exc:
            withdrawal_payout_result(
                withdrawal_id=withdrawal_id, paid=False, voucher="", failure_code=f"refused: {exc}"
            )
            return ""
    else:
        # A bank payment order; the bank statement's debit line confirms it (reconciliation).
        voucher = f"BANK-{withdrawal.reference}"
    with transaction.atomic():
        locked = withdrawal_lock(withdrawal_id)
        if not locked.voucher:
            locked.voucher = voucher
            locked.save(update_fields=["voucher"])
    return voucher


def _paid_event_data(withdrawal: Withdrawal) -> dict[str, Any]:
    """The ``withdrawal.paid`` event's data (the destination stays inside)."""
    return {
        "withdrawal": withdrawal.reference,
        "withdrawal_id": withdrawal.pk,
        "client": withdrawal.client.reference,
        "client_id": withdrawal.client_id,
        "amount": amount_str(withdrawal.amount, withdrawal.currency),
        "currency": withdrawal.currency,
        "method": withdrawal.method,
        "voucher": withdrawal.voucher,
        "paid_at": withdrawal.paid_at,
    }


def withdrawal_payout_result(*, withdrawal_id: int, paid: bool, voucher: str, failure_code: str) -> Outcome:
    """The PSP's (or the bank statement's) answer. Paid: the hold is captured and the client's
    account debited against clearing/bank. Failed: the hold is released. Only the first answer
    counts; later ones are ignored."""
    with transaction.atomic():
        withdrawal = (
            Withdrawal.objects.select_for_update(of=("self",)).select_related("client", "source").get(pk=withdrawal_id)
        )
        if withdrawal.status != WithdrawalStatus.PROCESSING:
            return Outcome.no_effect(f"withdrawal {withdrawal.reference} is already {withdrawal.status}")
        before = _snapshot(withdrawal)
        if voucher and not withdrawal.voucher:
            withdrawal.voucher = voucher
        if paid:
            target = (
                psp_clearing_account(withdrawal.currency)
                if withdrawal.method == Channel.CARD
                else bank_account_in(withdrawal.currency)
            )
            entry = ledger_post(
                key=f"withdrawal:{withdrawal.pk}:paid",
                kind=EntryKind.WITHDRAWAL,
                memo=f"{withdrawal.reference} paid ({withdrawal.voucher})",
                lines=[debit(withdrawal.source, withdrawal.amount), credit(target, withdrawal.amount)],
                source=f"payments.withdrawal:{withdrawal.pk}",
                release_hold=withdrawal.hold,
            )
            withdrawal.entry = entry
            withdrawal.mark_paid()
            withdrawal.paid_at = timezone.now()
            withdrawal.save()
            audit_record(
                action=AuditAction.WITHDRAWAL_PAID,
                subject=withdrawal,
                before=before,
                after=_snapshot(withdrawal) | {"entry": entry.pk, "voucher": withdrawal.voucher},
            )
            event_publish(type=EventType.WITHDRAWAL_PAID, subject=withdrawal, data=_paid_event_data(withdrawal))
            client_notify(
                subject=withdrawal.client, recipient=withdrawal.client.email, template="payments.withdrawal_paid",
                context=_context(withdrawal) | {"voucher": withdrawal.voucher},
            )  # fmt: skip
            return Outcome.applied(f"withdrawal {withdrawal.reference} paid")
        if withdrawal.hold.status == HoldStatus.ACTIVE:
            _release(withdrawal)
        withdrawal.mark_failed()
        withdrawal.failure_code = failure_code[:60] or "unknown"
        withdrawal.save()
        audit_record(
            action=AuditAction.WITHDRAWAL_FAILED,
            subject=withdrawal,
            before=before,
            after=_snapshot(withdrawal) | {"failure_code": withdrawal.failure_code},
        )
        work_item_open(
            queue="withdrawal_exception",
            subject=withdrawal,
            title=f"Payout of {withdrawal.reference} failed: {withdrawal.failure_code}"[:200],
            risk_level=RiskLevel.MEDIUM,
            amount_at_stake=withdrawal.amount,
            details={"voucher": withdrawal.voucher, "failure_code": withdrawal.failure_code},
        )
        client_notify(
            subject=withdrawal.client, recipient=withdrawal.client.email, template="payments.withdrawal_failed",
            context=_context(withdrawal) | {"failure": withdrawal.failure_code.replace("_", " ")},
        )  # fmt: skip
        return Outcome.applied(f"withdrawal {withdrawal.reference} failed")
