"""Approving a high-risk client after enhanced due diligence: two compliance officers (the maker
and a checker who is not the maker)."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.models import Client, ClientStatus
from accounts.selectors import client_is_visible_to
from kyc import errors
from kyc.errors import KycError
from ops.approvals import ApprovalAction, Payload, register
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role


def client_can_request_edd_approval(actor: User, client: Client) -> Decision:
    """Ask a second compliance officer to approve a high-risk client after enhanced due diligence."""
    from kyc.services.risk import latest_assessment
    from ops.services.approvals import approval_can_submit

    may = approval_can_submit(actor, "client.approve_edd")
    if not may:
        return may
    if not client_is_visible_to(actor, client):
        return deny(errors.OUT_OF_SCOPE)
    assessment = latest_assessment(client)
    if client.status != ClientStatus.PENDING_REVIEW or assessment is None or not assessment.edd_required:
        return deny(errors.EDD_NOT_NEEDED_NOW)
    return ALLOWED


def _validate(subject: models.Model, payload: Payload) -> None:
    from kyc.services.risk import latest_assessment, missing_for_approval

    client = Client.objects.get(pk=subject.pk)
    if client.status != ClientStatus.PENDING_REVIEW:
        raise KycError(f"The client is {ClientStatus(client.status).label.lower()}, not pending review.")
    assessment = latest_assessment(client)
    if assessment is None or not assessment.edd_required:
        raise KycError("This client does not need enhanced due diligence; one reviewer approves it.")
    missing = missing_for_approval(client)
    if missing:
        raise KycError(f"Documents still to accept: {', '.join(missing)}.")


def _execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from accounts.services.clients import client_transition_approved
    from ops.services.work_items import work_item_resolve_for_subject

    client = client_transition_approved(
        client_id=subject.pk, name="approve", reason=f"EDD approval #{request.pk}: {request.reason}"
    )
    work_item_resolve_for_subject(
        queue="edd", subject=client, code="approved", note=f"approved by two officers (#{request.pk})"
    )
    return {"status": client.status}


register(
    ApprovalAction(
        key="client.approve_edd",
        label="Approve a high-risk client after EDD",
        subject_model=Client,
        maker_permission="ops.review_documents",
        policy=lambda subject, payload: [Role.COMPLIANCE],
        validate=_validate,
        execute=_execute,
        describe=lambda subject, payload: f"Approve {subject} after enhanced due diligence",
    )
)
