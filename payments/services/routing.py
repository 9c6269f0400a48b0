"""PSP routing: which payment provider takes a card deposit. Enabled rules are tried in order
(priority, then age); the first whose currency, client country and amount range match names the
PSP; none matching, the card channel's own PSP (``PAYMENT_PROVIDERS["card"]``) takes it. A rule
naming a PSP that is no longer configured is passed over (the routing page flags it).

Seed 004 names "PSP routing changes" among the actions that need a second approver: a rule is
added, edited, disabled or enabled only through the maker-checker engine (``payments.routing_*``
actions in ``payments.approval_actions``), never by a direct write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import Client
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import ApprovalRequest, User
from ops.permissions import Decision, deny
from payments import errors
from payments.currencies import currency_check, money_parse, money_str
from payments.errors import PaymentError
from payments.models import Channel, RoutingRule, RoutingTable
from payments.providers import PaymentProvider, card_providers

ADD_ACTION = "payments.routing_rule_add"
CHANGE_ACTION = "payments.routing_rule_change"
OPS = ("add", "edit", "disable", "enable")
RULE_FIELDS = ("priority", "currency", "countries", "min_amount", "max_amount", "provider")


def routing_table() -> RoutingTable:
    table, _ = RoutingTable.objects.get_or_create(channel=Channel.CARD)
    return table


def rule_matches(rule: RoutingRule, *, country: str, amount: Decimal, currency: str) -> bool:
    if rule.currency and rule.currency != currency:
        return False
    if rule.countries and country not in rule.countries:
        return False
    if rule.min_amount is not None and amount < rule.min_amount:
        return False
    return rule.max_amount is None or amount <= rule.max_amount


def psp_route_rule(*, client: Client, amount: Decimal, currency: str) -> RoutingRule | None:
    """The rule that routes this deposit, or None when the default PSP takes it."""
    providers = card_providers()
    candidates = RoutingRule.objects.filter(enabled=True).filter(Q(currency="") | Q(currency=currency))
    for rule in candidates.order_by("priority", "id"):
        if rule.provider in providers and rule_matches(
            rule, country=str(client.country), amount=amount, currency=currency
        ):
            return rule
    return None


def psp_route(*, client: Client, amount: Decimal, currency: str) -> PaymentProvider:
    """The PSP a card deposit of ``amount`` ``currency`` from ``client`` goes to: the first enabled
    rule's that matches, else the card channel's own. PaymentError (NO_ROUTE) when neither is
    configured."""
    rule = psp_route_rule(client=client, amount=amount, currency=currency)
    providers = card_providers()
    if rule is not None:
        return providers[rule.provider]
    default = next(iter(providers.values()), None)
    if default is None:
        raise PaymentError(
            errors.NO_ROUTE.format(amount=money_str(amount, currency), country=client.country or "anywhere"),
            field="currency",
            status=422,
        )
    return default


# --- asking for a change (maker-checker) -----------------------------------------------------------


def routing_can_request_change(actor: User) -> Decision:
    """May ask for a PSP routing change (finance; another finance officer approves)."""
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.manage_psp_routing"):
        return deny(errors.ROUTING_NOT_ALLOWED)
    return approval_can_submit(actor, ADD_ACTION)


def _amount(value: Any, currency: str, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not currency:
        raise PaymentError(errors.ROUTING_BOUNDS_NEED_CURRENCY, field="currency")
    return str(money_parse(value, currency, field=field))


def routing_rule_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """A rule's fields as a request's payload stores them (strings and lists: JSON), each checked;
    PaymentError naming the field."""
    providers = card_providers()
    provider = str(fields.get("provider", "")).strip()
    if provider not in providers:
        raise PaymentError(
            errors.ROUTING_PROVIDER_UNKNOWN.format(provider=provider, choices=", ".join(providers) or "none"),
            field="provider",
        )
    try:
        priority = int(fields.get("priority", ""))
    except (TypeError, ValueError):
        raise PaymentError("priority: a whole number (lower is tried first).", field="priority") from None
    if not 0 <= priority <= 1_000_000:
        raise PaymentError("priority: between 0 and 1,000,000.", field="priority")
    currency = str(fields.get("currency") or "").strip().upper()
    if currency:
        currency = currency_check(currency)
    raw = fields.get("countries") or []
    countries = sorted(
        {str(c).strip().upper() for c in (raw.split(",") if isinstance(raw, str) else raw) if str(c).strip()}
    )
    for country in countries:
        if len(country) != 2 or not country.isalpha():
            raise PaymentError(errors.ROUTING_COUNTRY_INVALID.format(country=country), field="countries")
    low = _amount(fields.get("min_amount"), currency, "min_amount")
    high = _amount(fields.get("max_amount"), currency, "max_amount")
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        raise PaymentError(errors.ROUTING_MIN_ABOVE_MAX, field="min_amount")
    return {
        "priority": priority,
        "currency": currency,
        "countries": countries,
        "min_amount": low,
        "max_amount": high,
        "provider": provider,
    }


def rule_snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "priority": rule.priority,
        "currency": rule.currency,
        "countries": list(rule.countries),
        "min_amount": None if rule.min_amount is None else str(money_parse(rule.min_amount, rule.currency)),
        "max_amount": None if rule.max_amount is None else str(money_parse(rule.max_amount, rule.currency)),
        "provider": rule.provider,
        "enabled": rule.enabled,
    }


@transaction.atomic(durable=True)
def routing_change_request(
    *, actor: User, op: str, rule: RoutingRule | None = None, fields: dict[str, Any] | None = None, reason: str
) -> ApprovalRequest:
    """Ask for a routing change: ``add`` a rule (``fields``), ``edit`` a rule's fields, ``disable``
    or ``enable`` a rule. Nothing changes until a second person approves it."""
    from ops.errors import OpsError
    from ops.services.approvals import approval_create

    decision = routing_can_request_change(actor)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    if op not in OPS:
        raise PaymentError(errors.ROUTING_OP_INVALID, field="op")
    try:
        if op == "add":
            payload = {"op": op, "rule": routing_rule_clean(fields or {})}
            return approval_create(
                action=ADD_ACTION, subject=routing_table(), payload=payload, maker=actor, reason=reason
            )
        if rule is None:
            raise PaymentError("rule: choose the rule to change.", field="rule")
        payload = {"op": op, "seen": rule_snapshot(rule)}
        if op == "edit":
            payload["rule"] = routing_rule_clean(fields or {})
        return approval_create(action=CHANGE_ACTION, subject=rule, payload=payload, maker=actor, reason=reason)
    except OpsError as exc:
        raise PaymentError(str(exc), status=409) from None


def routing_rule_add(*, fields: dict[str, Any], request: ApprovalRequest) -> RoutingRule:
    """Carry out an approved ``add`` (the engine calls this in the final approval's transaction)."""
    clean = routing_rule_clean(fields)
    rule = RoutingRule(**clean, enabled=True)
    rule._change_reason = f"approval #{request.pk}: {request.reason}"  # type: ignore[attr-defined]
    rule.save()
    audit_record(
        action=AuditAction.ROUTING_RULE_ADDED, subject=rule, after=rule_snapshot(rule) | {"approval": request.pk},
        reason=request.reason,
    )  # fmt: skip
    return rule


def routing_rule_change(*, rule_id: int, payload: dict[str, Any], request: ApprovalRequest) -> RoutingRule:
    """Carry out an approved ``edit`` / ``disable`` / ``enable``: refused when the rule is no longer
    what the maker saw (another change got there first)."""
    rule = RoutingRule.objects.select_for_update().get(pk=rule_id)
    before = rule_snapshot(rule)
    if before != payload.get("seen"):
        raise PaymentError(errors.ROUTING_RULE_CHANGED_SINCE, status=409)
    op = payload["op"]
    if op == "edit":
        for name, value in routing_rule_clean(payload["rule"]).items():
            setattr(rule, name, value)
    else:
        rule.enabled = op == "enable"
    rule._change_reason = f"approval #{request.pk}: {request.reason}"  # type: ignore[attr-defined]
    rule.save()
    audit_record(
        action=AuditAction.ROUTING_RULE_CHANGED, subject=rule, before=before,
        after=rule_snapshot(rule) | {"op": op, "approval": request.pk}, reason=request.reason,
    )  # fmt: skip
    return rule
