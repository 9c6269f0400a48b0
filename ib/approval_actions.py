"""A change of the partner who introduced a client: a second person (finance) approves it, because
it moves the commissions the client's trading earns from one partner to another."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from accounts.models import Client
from accounts.selectors import client_is_visible_to
from ib import errors
from ib.errors import PartnerError
from ib.models import Partner
from ops.approvals import ApprovalAction, Payload, register
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role
from ops.selectors import approval_pending

ACTION = "ib.attribution_change"


def _client(subject: models.Model) -> Client:
    assert isinstance(subject, Client)
    return Client.objects.get(pk=subject.pk)


def _parsed(payload: Payload) -> tuple[Partner, date, str]:
    try:
        partner = Partner.objects.get(pk=int(payload["partner"]))
        effective_from = date.fromisoformat(str(payload["effective_from"]))
    except (KeyError, TypeError, ValueError, Partner.DoesNotExist):
        raise PartnerError("The change names no existing partner or no valid date.") from None
    return partner, effective_from, str(payload.get("campaign", ""))


def change_pending(client: Client) -> ApprovalRequest | None:
    return approval_pending(ACTION, client)


def attribution_can_request_change(actor: User, client: Client) -> Decision:
    """Ask for a client to be attributed to another partner (finance approves)."""
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.manage_partners"):
        return deny(errors.NOT_ALLOWED_ATTRIBUTE)
    may = approval_can_submit(actor, ACTION)
    if not may:
        return may
    if not client_is_visible_to(actor, client):
        return deny(errors.NOT_ALLOWED_ATTRIBUTE)
    if change_pending(client) is not None:
        return deny(errors.CHANGE_PENDING.format(client=client.display_name))
    return ALLOWED


def _validate(subject: models.Model, payload: Payload) -> None:
    from ib.services.partners import attribution_check_change

    partner, effective_from, _ = _parsed(payload)
    attribution_check_change(_client(subject), partner, effective_from)


def _execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.partners import attribution_change

    partner, effective_from, campaign = _parsed(payload)
    attribution = attribution_change(
        client=_client(subject), partner=partner, effective_from=effective_from, campaign=campaign, request=request
    )
    return {"partner": partner.name, "from": attribution.valid_from.isoformat()}


def _show(payload: Payload) -> dict[str, str]:
    partner = Partner.objects.filter(pk=payload.get("partner")).first()
    shown = {
        "New partner": f"{partner.name} ({partner.code})" if partner else "(no longer exists)",
        "Takes effect from": str(payload.get("effective_from", "")),
    }
    if payload.get("campaign"):
        shown["Campaign"] = str(payload["campaign"])
    return shown


register(
    ApprovalAction(
        key=ACTION,
        label="Change the partner who introduced a client",
        subject_model=Client,
        maker_permission="ops.manage_partners",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate,
        execute=_execute,
        describe=lambda subject, payload: f"Attribute {subject} to {_show(payload)['New partner']}",
        show=_show,
    )
)


# --- money: payouts and adjustments of partner commissions ------------------------------------------

PAYOUT_ACTION = "ib.commission_payout"
ADJUSTMENT_ACTION = "ib.commission_adjustment"


def _partner(subject: models.Model) -> Partner:
    assert isinstance(subject, Partner)
    return Partner.objects.select_related("client").get(pk=subject.pk)


def _payout_validate(subject: models.Model, payload: Payload) -> None:
    from ib.services.money import commission_payout_check

    commission_payout_check(_partner(subject), payload)


def _payout_execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.money import commission_payout_execute

    entry = commission_payout_execute(partner=_partner(subject), payload=payload, request=request)
    return {"entry": entry.pk, "amount": str(payload["amount"]), "currency": str(payload["currency"])}


def _payout_show(payload: Payload) -> dict[str, str]:
    from payments.currencies import money_str

    try:
        amount = money_str(Decimal(str(payload.get("amount"))), str(payload.get("currency")))
    except ArithmeticError:
        amount = str(payload.get("amount"))
    return {"Amount": amount, "Lines paid": f"available lines up to #{payload.get('through_line')}"}


register(
    ApprovalAction(
        key=PAYOUT_ACTION,
        label="Pay out a partner's commissions to its wallet",
        subject_model=Partner,
        maker_permission="ops.handle_withdrawals",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_payout_validate,
        execute=_payout_execute,
        describe=lambda subject, payload: f"Pay {subject} {_payout_show(payload)['Amount']} of commissions",
        show=_payout_show,
    )
)


def _adjustment_parsed(payload: Payload) -> dict[str, Any]:
    from accounts.models import Client as ClientModel
    from ib.models import CommissionLine, Dispute
    from ib.services.money import adjustment_amount

    try:
        partner = Partner.objects.get(pk=int(payload["partner"]))
        currency = str(payload["currency"])
        client = ClientModel.objects.get(pk=int(payload["client"]))
        line = CommissionLine.objects.get(pk=int(payload["line"])) if payload.get("line") else None
        dispute = Dispute.objects.get(pk=int(payload["dispute"])) if payload.get("dispute") else None
    except (KeyError, TypeError, ValueError, ObjectDoesNotExist):
        raise PartnerError(errors.ADJUSTMENT_NEEDS_CLIENT) from None
    amount = adjustment_amount(payload.get("amount"), currency)
    reason = str(payload.get("reason", "")).strip()
    if not reason:
        raise PartnerError(errors.ADJUSTMENT_REASON)
    return {"partner": partner, "currency": currency, "client": client, "line": line, "dispute": dispute,
            "amount": amount, "reason": reason}  # fmt: skip


def _adjustment_validate(subject: models.Model, payload: Payload) -> None:
    parsed = _adjustment_parsed(payload)
    if parsed["dispute"] is not None and parsed["amount"] <= 0:
        raise PartnerError(errors.ADJUSTMENT_NOT_POSITIVE)


def _adjustment_execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.disputes import dispute_adjusted
    from ib.services.money import commission_adjustment_apply

    parsed = _adjustment_parsed(payload)
    line = commission_adjustment_apply(request=request, **parsed)
    if parsed["dispute"] is not None:
        dispute_adjusted(dispute_id=parsed["dispute"].pk, adjustment=line, request=request)
    return {"line": line.pk, "entry": line.entry_id, "amount": str(line.amount), "currency": line.currency}


def _adjustment_closed(subject: models.Model, payload: Payload, request: Any) -> None:
    from ib.services.disputes import dispute_adjustment_closed

    if payload.get("dispute"):
        dispute_adjustment_closed(dispute_id=int(payload["dispute"]), request=request)


def _adjustment_show(payload: Payload) -> dict[str, str]:
    from ib.models import Dispute

    partner = Partner.objects.filter(pk=payload.get("partner")).first()
    shown = {
        "Partner": f"{partner.name} ({partner.code})" if partner else "(no longer exists)",
        "Amount": f"{payload.get('amount')} {payload.get('currency')}",
        "Reason": str(payload.get("reason", "")),
    }
    if payload.get("line"):
        shown["Statement line"] = f"#{payload['line']}"
    if payload.get("dispute"):
        dispute = Dispute.objects.filter(pk=payload["dispute"]).first()
        shown["Dispute"] = dispute.reference if dispute else "(no longer exists)"
    return shown


register(
    ApprovalAction(
        key=ADJUSTMENT_ACTION,
        label="Adjust a partner's commission",
        # the Dispute it settles, or the Partner for an adjustment outside a dispute (so that two
        # disputes of one partner can each wait for their own adjustment)
        subject_model=Partner,
        maker_permission="ops.handle_ib_disputes",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_adjustment_validate,
        execute=_adjustment_execute,
        describe=lambda subject, payload: (
            f"Adjust the commission of {_adjustment_show(payload)['Partner']} by {_adjustment_show(payload)['Amount']}"
        ),
        on_close=_adjustment_closed,
        show=_adjustment_show,
    )
)
