"""Approving a high-risk client after enhanced due diligence: two compliance officers (the maker
and a checker who is not the maker)."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.models import Client, ClientStatus
from kyc.errors import KycError
from ops.approvals import ApprovalAction, Payload, register
from ops.roles import Role


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
