"""The identity verification provider (kyc.identity, sim.idv): a check is recorded at upload, sent
by the worker's service, and the provider's signed result comes in at the real endpoint
(/webhooks/identity/), applied inline here (tests/kyc/test_identity_worker.py runs the whole way
through a real worker). A clean result is evidence beside the document and decides nothing; a
mismatch or a failed check is a KYC exception; the provider's score is a risk factor."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.test import override_settings

from audit.models import AuditEvent, SecurityEvent
from kyc import errors
from kyc.identity import IdentityProviderError
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
from kyc.services.documents import document_review, document_upload
from kyc.services.identity import identity_check_give_up, identity_check_submit
from ops.models import OutboxEvent, WorkItem
from ops.roles import Role
from sim import idv
from sim.idv import SimulatedIdentityVerifier
from sim.models import SimIdvNotification
from tests.factories import client as make_client
from tests.factories import staff
from tests.kyc import files
from tests.personas import sign_in

pytestmark = pytest.mark.django_db
URL = "/webhooks/identity/"
PDF = files.pdf()


@pytest.fixture(autouse=True)
def _inline(settings: Any, tmp_path: Path) -> Iterator[None]:
    """The result is applied in the provider's request (the queued default: the worker tests)."""
    settings.WEBHOOK_APPLY = "inline"
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield


def _upload(c: Any, name: str = "passport.pdf", kind: str = "proof_of_identity") -> Document:
    upload = SimpleUploadedFile(name, PDF)
    return document_upload(client_id=c.pk, kind=kind, upload=upload, actor=staff(Role.SUPPORT), number="P1234567")


def _checked(c: Any, name: str = "passport.pdf") -> tuple[Document, IdentityCheck, dict[str, Any]]:
    """Upload, send to the provider (what the worker's task does): the document, its check, and
    the result the provider will send."""
    document = _upload(c, name)
    check = identity_check_submit(check_id=document.identity_checks.get().pk)
    assert check.status == IdentityCheckStatus.SUBMITTED
    payload = SimIdvNotification.objects.get(idv_check__reference=check.reference).payload
    return document, check, payload


def _post(payload: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    body, signature = idv.signed(payload, **kwargs)
    response = HttpClient().post(URL, data=body, content_type="application/json", HTTP_SIMIDV_SIGNATURE=signature)
    return response.status_code, response.json()


def _exceptions(check: IdentityCheck) -> list[WorkItem]:
    return list(WorkItem.objects.filter(queue__code="kyc_exception", subject_id=str(check.pk)))


def _factors(c: Any) -> dict[str, int]:
    latest = RiskAssessment.objects.filter(client=c).order_by("-assessed_at", "-id").first()
    assert latest is not None
    return {f["code"]: f["points"] for f in latest.factors}


def test_good_an_identity_document_upload_records_a_check_other_kinds_none() -> None:
    c = make_client()
    identity = _upload(c)
    check = identity.identity_checks.get()
    assert (check.status, check.provider, check.requested_by) == (
        IdentityCheckStatus.REQUESTED,
        "simidv",
        "system:pytest",
    )
    assert AuditEvent.objects.filter(action="kyc.identity_check_requested", subject_id=str(c.pk)).count() == 1
    address = _upload(c, "bill.pdf", kind="proof_of_address")
    assert not address.identity_checks.exists()


def test_good_a_clean_result_is_evidence_beside_the_document_and_decides_nothing() -> None:
    c = make_client()
    document, check, payload = _checked(c)
    status, answer = _post(payload)
    assert (status, answer) == (200, {"received": True, "duplicate": False, "status": "processed"})
    check.refresh_from_db()
    assert (check.status, check.result, check.mismatches) == (IdentityCheckStatus.COMPLETED, IdentityResult.CLEAR, [])
    assert check.extracted["last_name"] == c.last_name and check.extracted["document_number"] == "P1234567"
    assert 5 <= (check.risk_score or 0) < 25
    # stored as it came, before it was processed
    stored = IdentityInboundResult.objects.get()
    assert stored.status == IdentityInboundStatus.PROCESSED and json.loads(stored.body) == payload
    assert stored.signature.startswith("t=")
    # no decision: the document waits for the reviewer, and no exception is opened
    document.refresh_from_db()
    assert (document.status, document.reviewed_by) == (DocumentStatus.PENDING, None)
    assert _exceptions(check) == []
    # the provider's score is a factor of the client's risk score
    assert _factors(c)["identity_check_risk"] == round(30 * (check.risk_score or 0) / 100)
    # the event, in the same transaction as the change
    event = OutboxEvent.objects.get(type="kyc.identity_check_completed")
    assert event.data["result"] == "clear" and event.data["exception"] is False
    # the reviewer sees the evidence beside the document, and still decides
    page = sign_in(HttpClient(), staff(Role.COMPLIANCE)).get(f"/kyc/documents/{document.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="identity-result">Clear<' in html
    assert f'data-testid="identity-score">{check.risk_score}<' in html
    assert "identity-differs" not in html and ">Accept</button>" in html


def test_good_a_mismatch_opens_a_kyc_exception_and_raises_the_risk_score() -> None:
    c = make_client()
    _upload(c, "bill.pdf", kind="proof_of_address")
    clean_doc, _, clean = _checked(c)
    _post(clean)
    before = RiskAssessment.objects.filter(client=c).order_by("-id").first()
    assert before is not None
    # a new scan whose name and date of birth are not the profile's
    clean_doc.status = DocumentStatus.REJECTED
    clean_doc.rejection_reason = "blurred"
    clean_doc.save()
    document, check, payload = _checked(c, "passport name-Ada_Byron dob-1990-01-31.pdf")
    assert _post(payload)[0] == 200
    check.refresh_from_db()
    assert check.result == IdentityResult.MISMATCH
    assert [(m["field"], m["document"], m["profile"]) for m in check.mismatches] == [
        ("name", "Ada Byron", f"Ada {c.last_name}"),
        ("date_of_birth", "1990-01-31", "1985-12-10"),
    ]
    (item,) = _exceptions(check)
    assert item.risk_level == "medium" and "name, date of birth differs from the profile" in item.title
    after = RiskAssessment.objects.filter(client=c).order_by("-id").first()
    assert after is not None and after.score > before.score
    assert _factors(c)["identity_check_exception"] == 25 and _factors(c)["identity_check_risk"] == 20
    page = sign_in(HttpClient(), staff(Role.COMPLIANCE)).get(f"/kyc/documents/{document.pk}/")
    html = page.content.decode()
    assert html.count('data-testid="identity-differs"') == 2
    assert "Does not match the profile: name, date of birth." in html


def test_good_a_failed_check_opens_a_kyc_exception() -> None:
    c = make_client()
    document, check, payload = _checked(c, "passport-forged.pdf")
    assert _post(payload)[0] == 200
    check.refresh_from_db()
    assert (check.result, check.risk_score) == (IdentityResult.FAILED, 95)
    (item,) = _exceptions(check)
    assert item.risk_level == "high" and item.title.startswith("Identity check failed")
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING  # the reviewer rejects it, not the provider
    # the reviewer's decision closes the exception with it
    officer = staff(Role.COMPLIANCE)
    document_review(document_id=document.pk, reviewer=officer, accept=False, reason_code="other", note="Tampered")
    item.refresh_from_db()
    assert (item.status, item.resolution_code) == ("resolved", "rejected")
    assert item.resolution_note == f"Proof of identity rejected by {officer.username}: Tampered"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body, sig: (body, sig.replace("v1=", "v1=00")), "does not match"),
        (lambda body, sig: (body.replace(b'"clear"', b'"failed"'), sig), "does not match"),
        (lambda body, sig: (body, ""), "missing"),
        (lambda body, sig: idv.signed(json.loads(body), timestamp=int(time.time()) - 301), "tolerance"),
        (lambda body, sig: idv.signed(json.loads(body), secret="whsec_someone_else"), "does not match"),
    ],
)
def test_bad_signature_is_a_400_and_nothing_is_stored_or_processed(mutate: Any, message: str) -> None:
    c = make_client()
    _, check, payload = _checked(c)
    body, signature = mutate(*idv.signed(payload))
    response = HttpClient().post(URL, data=body, content_type="application/json", HTTP_SIMIDV_SIGNATURE=signature)
    assert response.status_code == 400 and message in response.json()["error"]
    assert IdentityInboundResult.objects.count() == 0
    check.refresh_from_db()
    assert (check.status, check.result) == (IdentityCheckStatus.SUBMITTED, "")
    logged = SecurityEvent.objects.get()
    assert (logged.kind, logged.status, logged.path) == ("webhook_rejected", 400, URL)


def test_bad_a_signed_but_malformed_result_is_a_400_and_nothing_is_stored() -> None:
    c = make_client()
    _, _, payload = _checked(c)
    payload["data"]["check"]["risk_score"] = 101
    status, answer = _post(payload)
    assert status == 400 and answer["error"].startswith(errors.IDV_PAYLOAD_INVALID.split(":")[0])
    assert IdentityInboundResult.objects.count() == 0


def test_good_a_replayed_result_is_processed_once() -> None:
    c = make_client()
    _, check, payload = _checked(c, "passport-forged.pdf")
    assert _post(payload)[1]["duplicate"] is False
    status, answer = _post(payload)
    assert (status, answer["duplicate"], answer["status"]) == (200, True, "processed")
    assert IdentityInboundResult.objects.get().deliveries == 2
    assert AuditEvent.objects.filter(action="kyc.identity_check_completed").count() == 1
    assert OutboxEvent.objects.filter(type="kyc.identity_check_completed").count() == 1
    assert len(_exceptions(check)) == 1


def test_bad_a_provider_out_of_retries_lands_in_a_queue_and_staff_request_it_again() -> None:
    c = make_client()
    document = _upload(c)
    first = document.identity_checks.get()
    SimulatedIdentityVerifier.inject_fault("error", times=1)
    with pytest.raises(IdentityProviderError):
        identity_check_submit(check_id=first.pk)
    first.refresh_from_db()
    assert (first.status, first.attempts, first.last_error) == (
        IdentityCheckStatus.REQUESTED, 1, "simulated identity provider: 503 Service Unavailable (injected fault)"
    )  # fmt: skip
    identity_check_give_up(check_id=first.pk, error=first.last_error)  # what the task does out of retries
    first.refresh_from_db()
    assert first.status == IdentityCheckStatus.PROVIDER_FAILED
    item = WorkItem.objects.get(queue__code="identity_check_failure", subject_id=str(first.pk))
    assert item.status == "open" and item.title.startswith("Identity check not completed")
    # support may not request it; compliance must say why
    url = f"/kyc/documents/{document.pk}/identity-check/"
    assert sign_in(HttpClient(), staff(Role.SUPPORT)).post(url, {"reason": "again"}).status_code == 403
    officer = sign_in(HttpClient(), staff(Role.COMPLIANCE))
    refused = officer.post(url, {"reason": ""})
    assert refused.status_code == 400 and document.identity_checks.count() == 1
    done = officer.post(url, {"reason": "provider was down"})
    assert (done.status_code, done["Location"]) == (302, f"/kyc/documents/{document.pk}/")
    second = document.identity_checks.exclude(pk=first.pk).get()
    assert second.status == IdentityCheckStatus.REQUESTED
    requested = AuditEvent.objects.filter(action="kyc.identity_check_requested").order_by("-id").first()
    assert requested is not None and requested.reason == "provider was down"
    item.refresh_from_db()
    assert (item.status, item.resolution_code) == ("resolved", "fixed")
    # while that one is with the provider, a second request is refused with the reason
    again = officer.post(url, {"reason": "impatient"})
    assert again.status_code == 403 and document.identity_checks.count() == 2


def test_good_retention_deletes_what_the_provider_read_and_keeps_the_record_of_the_check() -> None:
    from kyc.services.retention import documents_pseudonymise

    c = make_client()
    _, check, payload = _checked(c, "passport name-Ada_Byron.pdf")
    _post(payload)
    assert documents_pseudonymise(c)["identity_checks"] == 1
    check.refresh_from_db()
    assert (check.extracted, check.mismatches, check.reasons) == ({}, [], [])
    assert (check.result, check.risk_score) == (IdentityResult.MISMATCH, 65)  # the record that it was checked
    assert all(not row for row in IdentityCheck.history.filter(id=check.pk).values_list("extracted", flat=True))
    stored = IdentityInboundResult.objects.get()
    assert (stored.body, stored.payload, stored.signature, stored.status) == ("", {}, "", "processed")
    assert set(IdentityInboundResult.history.filter(id=stored.pk).values_list("body", flat=True)) == {""}


def test_good_a_result_that_overtakes_the_recorded_submission_is_matched_by_our_reference() -> None:
    """The provider made the check, but the worker's call timed out before it recorded the
    provider's id: the result is matched by our reference, and the retry finds the same check."""
    c = make_client()
    document, check, payload = _checked(c)
    IdentityCheck.objects.filter(pk=check.pk).update(status=IdentityCheckStatus.REQUESTED, provider_check_id=None)
    assert _post(payload)[1]["status"] == "processed"
    check.refresh_from_db()
    assert (check.status, check.provider_check_id) == (IdentityCheckStatus.COMPLETED, payload["data"]["check"]["id"])
    retried = identity_check_submit(check_id=check.pk)  # the task's retry: nothing to send any more
    assert (retried.status, retried.attempts) == (IdentityCheckStatus.COMPLETED, 1)
    assert SimIdvNotification.objects.count() == 1 and document.identity_checks.count() == 1
