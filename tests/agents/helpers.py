"""Test data for the agents' tests: clients with documents uploaded through the real service."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from agents.models import Agent
from agents.services import agent_register
from kyc.models import Document
from kyc.services.documents import document_upload
from ops.roles import Role
from tests.agents.conftest import photo
from tests.factories import client, staff


def approve_agents() -> None:
    """Another administrator approves every agent waiting to run (or to do more)."""
    from agents.approval_actions import AGENT_GRANT
    from ops.models import ApprovalRequest, ApprovalStatus
    from ops.services.approvals import approval_decide

    checker = staff(Role.ADMIN)
    for request in ApprovalRequest.objects.filter(action=AGENT_GRANT, status=ApprovalStatus.PENDING):
        approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="purpose and scopes checked")


def register_agent(name: str, scopes: list[str], **kwargs: Any) -> tuple[Agent, str]:
    """An agent registered by one administrator and approved by another (so it runs)."""
    admin = staff(Role.ADMIN)
    agent, token = agent_register(
        name=name, owner=admin, purpose=f"test agent {name}", scopes=scopes, actor=admin, **kwargs
    )
    approve_agents()
    agent.refresh_from_db()
    return agent, token


def upload(c: Any, kind: str, content: bytes, name: str = "scan.png", **kwargs: Any) -> Document:
    return document_upload(
        client_id=c.pk,
        kind=kind,
        upload=SimpleUploadedFile(name, content, content_type="image/png"),
        actor=staff(Role.SUPPORT),
        **kwargs,
    )


def client_with_documents(*, seed: int = 1, identity: bytes | None = None, name: str = "passport.png", **fields: Any):
    """A client who uploaded every required document (so is pending review, with a KYC review item)."""
    c = client(**fields)
    docs = [
        upload(c, "proof_of_identity", identity or photo(seed=seed), name,
               expiry_date=datetime.date.today() + datetime.timedelta(days=900)),
        upload(c, "proof_of_address", photo(seed=seed + 1000), "bill.png"),
        upload(c, "suitability_questionnaire", photo(seed=seed + 2000), "answers.png"),
    ]  # fmt: skip
    c.refresh_from_db()
    return c, docs


def read_off(document: Document, **extracted: str) -> None:
    """What the identity provider read off ``document`` (test data for a completed check)."""
    from kyc.models import IdentityCheck, IdentityCheckStatus
    from kyc.services.identity import identity_check_latest, identity_check_open

    check = identity_check_latest(document) or identity_check_open(document=document, reason="test")
    IdentityCheck.objects.filter(pk=check.pk).update(status=IdentityCheckStatus.COMPLETED, extracted=extracted)
