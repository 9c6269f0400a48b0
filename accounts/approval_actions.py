"""Sensitive client actions that need a second person: lifting a restriction, and leverage above
the account type's default."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts import errors
from accounts.errors import ClientError
from accounts.models import Client, ClientStatus, TradingAccount
from accounts.selectors import client_is_visible_to
from ops.approvals import ApprovalAction, Payload, register
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role
from ops.selectors import approval_pending


def _client(subject: models.Model) -> Client:
    assert isinstance(subject, Client)
    return subject


def _validate_unfreeze(subject: models.Model, payload: Payload) -> None:
    client = Client.objects.get(pk=_client(subject).pk)
    if client.status != ClientStatus.RESTRICTED:
        raise ClientError(
            errors.BAD_TRANSITION.format(status=ClientStatus(client.status).label.lower(), verb="unfrozen")
        )


def client_can_request_unfreeze(actor: User, client: Client) -> Decision:
    """Request that a restriction be lifted (a second compliance officer decides)."""
    from ops.services.approvals import approval_can_submit

    may = approval_can_submit(actor, "client.unfreeze")
    if not may:
        return may
    if not client_is_visible_to(actor, client):
        return deny(errors.OUT_OF_SCOPE)
    if client.status != ClientStatus.RESTRICTED:
        return deny(errors.BAD_TRANSITION.format(status=ClientStatus(client.status).label.lower(), verb="unfrozen"))
    if unfreeze_pending(client) is not None:
        return deny(errors.UNFREEZE_PENDING)
    return ALLOWED


def unfreeze_pending(client: Client) -> ApprovalRequest | None:
    return approval_pending("client.unfreeze", client)


def _execute_unfreeze(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from accounts.services.clients import client_unfreeze

    client = client_unfreeze(client_id=subject.pk, reason=f"approval #{request.pk}: {request.reason}")
    return {"status": client.status}


register(
    ApprovalAction(
        key="client.unfreeze",
        label="Lift a client restriction",
        subject_model=Client,
        maker_permission="ops.restrict_account",
        policy=lambda subject, payload: [Role.COMPLIANCE],
        validate=_validate_unfreeze,
        execute=_execute_unfreeze,
        describe=lambda subject, payload: f"Lift the restriction on {subject}",
    )
)


def _account(subject: models.Model) -> TradingAccount:
    assert isinstance(subject, TradingAccount)
    return TradingAccount.objects.select_related("account_type", "client").get(pk=subject.pk)


def _validate_leverage(subject: models.Model, payload: Payload) -> None:
    from accounts.services.trading_accounts import check_leverage

    leverage = payload.get("leverage")
    if not isinstance(leverage, int):
        raise ClientError("Leverage must be a whole number, e.g. 200 for 1:200.")
    check_leverage(_account(subject), leverage)


def _execute_leverage(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from accounts.services.trading_accounts import apply_leverage

    account = apply_leverage(
        account=_account(subject), leverage=payload["leverage"], reason=f"approval #{request.pk}: {request.reason}"
    )
    return {"leverage": account.leverage}


register(
    ApprovalAction(
        key="trading_account.set_leverage",
        label="Raise leverage above the default",
        subject_model=TradingAccount,
        maker_permission="ops.change_leverage",
        policy=lambda subject, payload: [Role.RISK],
        validate=_validate_leverage,
        execute=_execute_leverage,
        describe=lambda subject, payload: f"Set leverage 1:{payload.get('leverage')} on {subject}",
    )
)
