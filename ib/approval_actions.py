"""A change of the partner who introduced a client: a second person (finance) approves it, because
it moves the commissions the client's trading earns from one partner to another."""

from __future__ import annotations

from datetime import date
from typing import Any

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
