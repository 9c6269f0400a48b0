"""Expiry reminders, restriction on expiry, re-KYC, and periodic review — through a real worker
for the scheduled tasks."""

from __future__ import annotations

import datetime
import subprocess
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Client, ClientStatus
from accounts.services.clients import client_transition
from kyc.models import Document, DocumentStatus, RiskAssessment
from kyc.services.expiry import documents_expiry_sweep, periodic_review_sweep
from kyc.tasks import kyc_expiry_task, kyc_periodic_review_task
from ops.models import Interaction, WorkItem
from ops.roles import Role
from tests.conftest import wait_for
from tests.factories import approvable_client, staff

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 24)


def _approved_with_identity_expiring(on: datetime.date) -> tuple[Client, Document]:
    c: Any = approvable_client()
    client_transition(client_id=c.pk, name="submit_for_review", actor=staff(Role.SUPPORT))
    client_transition(client_id=c.pk, name="approve", actor=staff(Role.COMPLIANCE))
    identity = Document.objects.get(client=c, kind="proof_of_identity")
    identity.expiry_date = on
    identity.save(update_fields=["expiry_date"])
    return c, identity


def test_reminders_at_60_and_30_days_once_each() -> None:
    c, identity = _approved_with_identity_expiring(TODAY + datetime.timedelta(days=59))
    assert documents_expiry_sweep(today=TODAY)["reminded"] == 1
    assert documents_expiry_sweep(today=TODAY)["reminded"] == 0  # not twice
    assert documents_expiry_sweep(today=TODAY + datetime.timedelta(days=30))["reminded"] == 1  # 29 days left
    messages = list(Interaction.objects.filter(subject_id=str(c.pk), template="kyc.document_expiring").order_by("id"))
    assert [m.title for m in messages] == [
        "Your Proof of identity expires in 59 days",
        "Your Proof of identity expires in 29 days",
    ]
    item = WorkItem.objects.get(queue__code="kyc_exception", subject_id=str(identity.pk))
    assert "expires in 59 days" in item.title


def test_expiry_without_replacement_restricts_and_opens_re_kyc() -> None:
    c, identity = _approved_with_identity_expiring(TODAY - datetime.timedelta(days=1))
    assert documents_expiry_sweep(today=TODAY)["expired"] == 1
    assert Document.objects.get(pk=identity.pk).status == DocumentStatus.EXPIRED
    c.refresh_from_db()
    assert c.status == ClientStatus.RESTRICTED
    assert c.history.first().history_actor == "automation:kyc.expiry"
    assert WorkItem.objects.get(queue__code="kyc_review", subject_id=str(c.pk)).title.startswith("Re-KYC")
    assert Interaction.objects.filter(subject_id=str(c.pk), template="kyc.document_expired_restricted").exists()


def test_a_valid_replacement_prevents_the_restriction() -> None:
    c, _ = _approved_with_identity_expiring(TODAY - datetime.timedelta(days=1))
    Document.objects.create(
        client=c, kind="proof_of_identity", file="x", original_name="new.pdf", content_type="application/pdf", size=1,
        sha256="1" * 64, status=DocumentStatus.ACCEPTED, uploaded_by="test", expiry_date=TODAY + datetime.timedelta(days=3650),
    )  # fmt: skip
    documents_expiry_sweep(today=TODAY)
    assert Client.objects.get(pk=c.pk).status == ClientStatus.APPROVED


def test_periodic_review_by_risk_tier() -> None:
    high, low = approvable_client(), approvable_client()
    for c, level in ((high, "high"), (low, "low")):
        client_transition(client_id=c.pk, name="submit_for_review", actor=staff(Role.SUPPORT))
        RiskAssessment.objects.filter(client=c).update(level=level, edd_required=False)
        Client.objects.filter(pk=c.pk).update(risk_level=level)
        client_transition(client_id=c.pk, name="approve", actor=staff(Role.COMPLIANCE))
    in_13_months = timezone.localdate() + datetime.timedelta(days=400)
    assert periodic_review_sweep(today=in_13_months) == 1  # the high-risk client only
    assert WorkItem.objects.filter(
        queue__code="kyc_review", subject_id=str(high.pk), title__startswith="Periodic review"
    ).exists()
    assert periodic_review_sweep(today=timezone.localdate() + datetime.timedelta(days=1100)) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_expiry_and_review_tasks_run_in_a_real_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    c, _ = _approved_with_identity_expiring(timezone.localdate() - datetime.timedelta(days=1))
    kyc_expiry_task.delay()
    wait_for(lambda: Client.objects.get(pk=c.pk).status == ClientStatus.RESTRICTED)
    kyc_periodic_review_task.delay()  # nothing due yet: runs and opens nothing new
    wait_for(lambda: Interaction.objects.filter(subject_id=str(c.pk), status="sent").exists())
