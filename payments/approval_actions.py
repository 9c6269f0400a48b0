"""Money actions that need a second person: a withdrawal the policy sends to review, changing the
withdrawal approval policy, and manual balance corrections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models

from audit.actions import AuditAction
from audit.services import audit_record
from ops.approvals import ApprovalAction, Payload, register
from ops.roles import Role
from payments.currencies import money_parse
from payments.errors import PaymentError
from payments.models import LedgerAccount, RoutingRule, RoutingTable, Withdrawal, WithdrawalPolicy

POLICY_FIELDS = ("minimum", "maximum", "auto_approve_max", "compliance_above", "velocity_amount_24h")
POLICY_INTS = ("velocity_count_24h", "quick_withdrawal_hours")


def _policy(subject: models.Model) -> WithdrawalPolicy:
    assert isinstance(subject, WithdrawalPolicy)
    return subject


def _validate_policy(subject: models.Model, payload: Payload) -> None:
    policy = _policy(subject)
    values: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        if name in payload:
            values[name] = money_parse(payload[name], policy.currency, field=name)
    for name in POLICY_INTS:
        if name in payload:
            if not isinstance(payload[name], int) or payload[name] < 1:
                raise PaymentError(f"{name}: a whole number of at least 1.", field=name)
    unknown = set(payload) - set(POLICY_FIELDS) - set(POLICY_INTS)
    if unknown:
        raise PaymentError(f"{sorted(unknown)[0]}: not a policy setting.", field=sorted(unknown)[0])
    merged = {n: values.get(n, getattr(policy, n)) for n in POLICY_FIELDS}
    if not merged["minimum"] <= merged["auto_approve_max"] <= merged["compliance_above"] <= merged["maximum"]:
        raise PaymentError(
            "auto_approve_max: keep minimum <= auto-approve limit <= compliance threshold <= maximum.",
            field="auto_approve_max",
        )


def _execute_policy(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    policy = WithdrawalPolicy.objects.select_for_update().get(pk=subject.pk)
    before = {n: str(getattr(policy, n)) for n in (*POLICY_FIELDS, *POLICY_INTS)}
    for name, value in payload.items():
        setattr(policy, name, Decimal(str(value)) if name in POLICY_FIELDS else value)
    policy._change_reason = f"approval #{request.pk}: {request.reason}"  # type: ignore[attr-defined]
    policy.save()
    after = {n: str(getattr(policy, n)) for n in (*POLICY_FIELDS, *POLICY_INTS)}
    audit_record(
        action=AuditAction.WITHDRAWAL_POLICY_CHANGED, subject=policy, before=before, after=after, reason=request.reason
    )
    return after


register(
    ApprovalAction(
        key="payments.policy_change",
        label="Change the withdrawal approval policy",
        subject_model=WithdrawalPolicy,
        maker_permission="ops.manage_configuration",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_policy,
        execute=_execute_policy,
        describe=lambda subject, payload: f"{subject}: " + ", ".join(f"{k}={v}" for k, v in sorted(payload.items())),
    )
)


def _account(subject: models.Model) -> LedgerAccount:
    assert isinstance(subject, LedgerAccount)
    return subject


def _validate_correction(subject: models.Model, payload: Payload) -> None:
    from payments.services.transfers import adjustment_validate

    if not _account(subject).is_client:
        raise PaymentError("account: corrections are made on client wallets and trading accounts.", field="account")
    adjustment_validate(_account(subject), payload)


def _execute_correction(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.transfers import adjustment_apply

    account = LedgerAccount.objects.get(pk=subject.pk)
    entry = adjustment_apply(account=account, payload=payload, request_id=request.pk, reason=request.reason)
    return {"entry": entry.pk}


register(
    ApprovalAction(
        key="payments.balance_correction",
        label="Correct a client balance",
        subject_model=LedgerAccount,
        maker_permission="ops.handle_deposits",
        policy=lambda subject, payload: [Role.FINANCE, Role.COMPLIANCE],
        validate=_validate_correction,
        execute=_execute_correction,
        describe=lambda subject, payload: (
            f"Correct {subject} by {payload.get('amount')} ({payload.get('reason_code')})"
        ),
    )
)


def _show_withdrawal(payload: Payload) -> dict[str, str]:
    from payments.labels import withdrawal_check_label
    from payments.models import Approval, Channel

    method, approval = payload.get("method", ""), payload.get("approval", "")
    flags = [withdrawal_check_label(f) for f in payload.get("flags", [])]
    return {
        "withdrawal": str(payload.get("withdrawal", "")),
        "client": str(payload.get("client", "")),
        "amount": f"{payload.get('amount', '')} {payload.get('currency', '')}",
        "from": str(payload.get("source", "")),
        "to": f"{Channel(method).label if method in Channel.values else method} {payload.get('destination', '')}"
        f" ({payload.get('destination_name', '')})",
        "approval": str(Approval(approval).label) if approval in Approval.values else str(approval),
        "flags": ", ".join(flags) or "none",
    }


def _withdrawal(subject: models.Model) -> Withdrawal:
    assert isinstance(subject, Withdrawal)
    return subject


def _validate_withdrawal(subject: models.Model, payload: Payload) -> None:
    from payments.services.withdrawals import withdrawal_review_validate

    withdrawal_review_validate(_withdrawal(subject), payload)


def _levels_withdrawal(subject: models.Model, payload: Payload) -> list[Role]:
    from payments.services.withdrawals import withdrawal_review_levels

    return withdrawal_review_levels(_withdrawal(subject))


def _execute_withdrawal(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.withdrawals import withdrawal_review_approved

    return withdrawal_review_approved(withdrawal_id=subject.pk, request=request)


def _close_withdrawal(subject: models.Model, payload: Payload, request: Any) -> None:
    from payments.services.withdrawals import withdrawal_review_closed

    withdrawal_review_closed(withdrawal_id=subject.pk, request=request)


register(
    ApprovalAction(
        key="payments.withdrawal",
        label="Approve a withdrawal",
        subject_model=Withdrawal,
        maker_permission="ops.handle_withdrawals",
        policy=_levels_withdrawal,
        validate=_validate_withdrawal,
        execute=_execute_withdrawal,
        describe=lambda subject, payload: (
            f"Withdrawal {payload['withdrawal']}: {payload['amount']} {payload['currency']}"
            f" for client {payload['client']}"
        ),
        on_close=_close_withdrawal,
        outside_makers=True,
        show=_show_withdrawal,
    )
)


# --- PSP routing (seed 004: "PSP routing changes" need a second approver) ----------------------


def _routing_validate(subject: models.Model, payload: Payload) -> None:
    from payments.services.routing import OPS, routing_rule_clean, rule_snapshot

    if payload.get("op") not in OPS:
        raise PaymentError("op: choose add, edit, disable or enable.", field="op")
    if payload["op"] in ("add", "edit"):
        routing_rule_clean(payload.get("rule") or {})
    if payload["op"] != "add":
        assert isinstance(subject, RoutingRule)
        from payments import errors

        if rule_snapshot(RoutingRule.objects.get(pk=subject.pk)) != payload.get("seen"):
            raise PaymentError(errors.ROUTING_RULE_CHANGED_SINCE, status=409)


def _routing_add(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.routing import routing_rule_add

    rule = routing_rule_add(fields=payload["rule"], request=request)
    return {"rule": rule.pk}


def _routing_change(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.routing import routing_rule_change

    rule = routing_rule_change(rule_id=subject.pk, payload=payload, request=request)
    return {"rule": rule.pk, "enabled": rule.enabled}


def _rule_words(rule: dict[str, Any]) -> str:
    countries = ", ".join(rule.get("countries") or []) or "any country"
    low, high, currency = rule.get("min_amount"), rule.get("max_amount"), rule.get("currency") or "any currency"
    amounts = f"{low or 'any'} to {high or 'any'}" if low or high else "any amount"
    return f"#{rule.get('priority')}: {currency}, {countries}, {amounts} → {rule.get('provider')}"


def _routing_show(payload: Payload) -> dict[str, str]:
    shown = {"Change": str(payload.get("op", ""))}
    if payload.get("seen"):
        shown["Rule now"] = _rule_words(payload["seen"]) + ("" if payload["seen"].get("enabled") else " (disabled)")
    if payload.get("rule"):
        shown["Rule after" if payload.get("seen") else "New rule"] = _rule_words(payload["rule"])
    return shown


register(
    ApprovalAction(
        key="payments.routing_rule_add",
        label="Add a PSP routing rule",
        subject_model=RoutingTable,
        maker_permission="ops.manage_psp_routing",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_routing_validate,
        execute=_routing_add,
        describe=lambda subject, payload: f"Add routing rule {_rule_words(payload.get('rule') or {})}",
        show=_routing_show,
    )
)

register(
    ApprovalAction(
        key="payments.routing_rule_change",
        label="Change a PSP routing rule",
        subject_model=RoutingRule,
        maker_permission="ops.manage_psp_routing",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_routing_validate,
        execute=_routing_change,
        describe=lambda subject, payload: (
            f"{str(payload.get('op', '')).capitalize()} routing rule {_rule_words(payload.get('seen') or {})}"
        ),
        show=_routing_show,
    )
)
