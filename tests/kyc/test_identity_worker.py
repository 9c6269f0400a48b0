"""Identity verification the whole way through: an upload commits, a real Celery worker sends the
check to the simulated provider, whose worker task posts the signed result over HTTP to the real
endpoint of this test's server; it is stored, and the worker processes it. Provider failures are
retried with backoff and, out of retries, land in a work queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model, QuerySet
from django.test import Client as HttpClient
from django.test import override_settings

from kyc.models import (
    Document,
    DocumentStatus,
    IdentityCheck,
    IdentityCheckStatus,
    IdentityInboundResult,
    IdentityInboundStatus,
    IdentityResult,
    RiskAssessment,
)
from kyc.services.documents import document_upload
from ops.models import OutboxEvent, WorkItem
from ops.roles import Role
from sim import idv
from sim.idv import SimulatedIdentityVerifier
from sim.models import SimIdvNotification
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.factories import staff
from tests.kyc import files
from tests.personas import sign_in
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
PDF = files.pdf()


@pytest.fixture
def idv_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    """A real worker that reads the documents this test stores, with the simulated provider
    posting its results to this test's server, and retries one second apart (then two)."""
    from backoffice.celery import app

    app.control.purge()
    storage = tmp_path / "kyc"
    env = {
        "SIMIDV_WEBHOOK_URL": f"{live_server.url}/webhooks/identity/",
        "KYC_STORAGE_ROOT": str(storage),
        "IDENTITY_CHECK_RETRY_BASE_SECONDS": "1",
        "IDENTITY_CHECK_MAX_RETRIES": "2",
    }
    worker = Worker("idv", tmp_path / "worker.log", env=env)
    try:
        with override_settings(KYC_STORAGE_ROOT=storage):
            yield worker.wait_ready()
    finally:
        worker.stop()


def _upload(name: str) -> tuple[Any, Document]:
    c = make_client()
    document = document_upload(
        client_id=c.pk,
        kind="proof_of_identity",
        upload=SimpleUploadedFile(name, PDF),
        actor=staff(Role.SUPPORT),
        number="P7654321",
    )
    return c, document


M = TypeVar("M", bound=Model)


def _arrives(rows: QuerySet[M], timeout: float = 60) -> M:
    """The first row of ``rows`` once another process (the worker, the provider) has made it."""
    found = wait_for(rows.first, timeout=timeout)
    assert found is not None
    return found


def _completed(document: Document) -> IdentityCheck:
    return _arrives(document.identity_checks.filter(status=IdentityCheckStatus.COMPLETED))


def test_good_a_clean_result_arrives_signed_and_shows_beside_the_document_deciding_nothing(
    idv_worker: Worker, live_server: Any
) -> None:
    c, document = _upload("passport.pdf")
    check = _completed(document)
    assert (check.result, check.mismatches, check.attempts) == (IdentityResult.CLEAR, [], 1)
    stored = _arrives(
        IdentityInboundResult.objects.filter(
            provider_check_id=check.provider_check_id, status=IdentityInboundStatus.PROCESSED
        )
    )
    assert stored.deliveries == 1
    assert SimIdvNotification.objects.get(idv_check__check_id=check.provider_check_id).last_status == 200
    document.refresh_from_db()
    assert (document.status, document.reviewed_by) == (DocumentStatus.PENDING, None)
    assert not WorkItem.objects.filter(queue__code="kyc_exception").exists()
    assert OutboxEvent.objects.filter(type="kyc.identity_check_completed").count() == 1
    page = sign_in(HttpClient(), staff(Role.COMPLIANCE)).get(f"/kyc/documents/{document.pk}/")
    html = page.content.decode()
    assert 'data-testid="identity-result">Clear<' in html and f"{check.provider_check_id} (simidv)" in html
    assert "P7654321" in html and ">Accept</button>" in html

    url = f"{live_server.url}/webhooks/identity/"
    # a forged result for the same check: 400, nothing stored
    check_row = SimIdvNotification.objects.get().idv_check
    forged = idv.result_payload(check_row, event_id="evt_forged")
    forged["data"]["check"]["result"] = "failed"
    body, _ = idv.signed(forged)
    _, wrong = idv.signed(forged, secret="whsec_not_the_providers")
    assert idv.post(body, wrong, url=url) == 400
    # the genuine result replayed: stored once, processed once
    body, signature = idv.signed(idv.result_payload(check_row, event_id="evt_again"))
    assert idv.post(body, signature, url=url) == 200
    stored.refresh_from_db()
    assert stored.deliveries == 2 and IdentityInboundResult.objects.count() == 1
    check.refresh_from_db()
    assert check.result == IdentityResult.CLEAR
    assert OutboxEvent.objects.filter(type="kyc.identity_check_completed").count() == 1
    assert RiskAssessment.objects.filter(client=c).count() == 1


def test_good_a_mismatch_and_a_failed_check_open_kyc_exceptions_and_move_the_risk_score(idv_worker: Worker) -> None:
    mismatch_client, mismatch_doc = _upload("passport name-Grace_Hopper.pdf")
    failed_client, failed_doc = _upload("passport FORGED.pdf")
    mismatch, failed = _completed(mismatch_doc), _completed(failed_doc)
    assert mismatch.result == IdentityResult.MISMATCH
    assert [m["field"] for m in mismatch.mismatches] == ["name"]
    assert failed.result == IdentityResult.FAILED and failed.risk_score == 95

    def exception(check: IdentityCheck) -> WorkItem:
        return _arrives(WorkItem.objects.filter(queue__code="kyc_exception", subject_id=str(check.pk)))

    assert exception(mismatch).risk_level == "medium"
    assert exception(failed).risk_level == "high"
    for c, points in ((mismatch_client, 20), (failed_client, 28)):
        latest = RiskAssessment.objects.filter(client=c).order_by("-id").first()
        assert latest is not None
        factors = {f["code"]: f["points"] for f in latest.factors}
        assert (factors["identity_check_risk"], factors["identity_check_exception"]) == (points, 25)
    for document in (mismatch_doc, failed_doc):
        document.refresh_from_db()
        assert document.status == DocumentStatus.PENDING


def test_bad_provider_failures_are_retried_with_backoff_then_land_in_a_queue(idv_worker: Worker) -> None:
    SimulatedIdentityVerifier.inject_fault("error", times=1)
    SimulatedIdentityVerifier.inject_fault("timeout", times=1)
    _, recovered = _upload("passport.pdf")
    check = _completed(recovered)
    assert (check.attempts, check.last_error) == (3, "")  # refused, timed out, then sent

    SimulatedIdentityVerifier.inject_fault("error", times=3)  # every attempt (1 + 2 retries) refused
    _, lost = _upload("passport.pdf")

    failed = _arrives(lost.identity_checks.filter(status=IdentityCheckStatus.PROVIDER_FAILED))
    assert failed.attempts == 3 and "503" in failed.last_error
    item = WorkItem.objects.get(queue__code="identity_check_failure", subject_id=str(failed.pk))
    assert item.status == "open" and item.details["attempts"] == 3
    # compliance asks again from the document page; the provider is back: the result arrives
    officer = sign_in(HttpClient(), staff(Role.COMPLIANCE))
    response = officer.post(f"/kyc/documents/{lost.pk}/identity-check/", {"reason": "the provider is back"})
    assert response.status_code == 302
    assert _completed(lost).result == IdentityResult.CLEAR
    item.refresh_from_db()
    assert item.status == "resolved"
