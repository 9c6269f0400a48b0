"""Documents: content-checked uploads, review, rejection -> pending documents -> resubmission ->
re-review; the client moves through its lifecycle without anyone pushing it."""

from __future__ import annotations

import datetime
import html
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.test import override_settings

from accounts.models import Client, ClientStatus
from audit.models import AuditEvent
from kyc import errors
from kyc.errors import KycError
from kyc.models import Document, DocumentStatus
from kyc.selectors import kyc_checklist
from kyc.services.documents import document_review, document_upload
from ops.models import Interaction, WorkItem
from ops.roles import Role
from tests.conftest import wait_for
from tests.factories import client, staff
from tests.kyc import files
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

# Real files: the upload decodes them (tests/kyc/test_hostile_uploads.py tries the hostile ones).
PDF = files.pdf()
PNG = files.png()
JPEG = files.jpeg()


@pytest.fixture(autouse=True)
def _storage(tmp_path: Path) -> Iterator[None]:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield


def _file(content: bytes = PDF, name: str = "scan.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _upload(c: Client, kind: str, content: bytes = PDF, name: str = "scan.pdf", **kw: object) -> Document:
    return document_upload(client_id=c.pk, kind=kind, upload=_file(content, name), actor=staff(Role.SUPPORT), **kw)  # type: ignore[arg-type]


def _complete(c: Client) -> list[Document]:
    return [
        _upload(c, "proof_of_identity", PDF),
        _upload(c, "proof_of_address", PNG, "bill.png"),
        _upload(c, "suitability_questionnaire", JPEG, "q.jpg"),
    ]


def test_good_upload_is_hashed_typed_and_stored_outside_the_web_root(tmp_path: Path) -> None:
    c = client()
    doc = _upload(
        c,
        "proof_of_identity",
        number="P1234567",
        issue_date=datetime.date(2020, 1, 1),
        expiry_date=datetime.date(2030, 1, 1),
    )
    import hashlib

    assert (
        doc.sha256 == hashlib.sha256(PDF).hexdigest() and doc.content_type == "application/pdf" and doc.size == len(PDF)
    )
    assert Path(doc.file.path).is_relative_to(tmp_path / "kyc") and Path(doc.file.path).read_bytes() == PDF
    assert AuditEvent.objects.filter(action="kyc.document_uploaded", subject_id=str(c.pk)).exists()


@pytest.mark.parametrize(
    ("content", "name", "extra", "message"),
    [
        (b"MZ\x90\x00 this is an exe", "passport.pdf", {}, errors.BAD_TYPE),
        (b"", "empty.pdf", {}, errors.EMPTY_FILE),
        (
            PDF,
            "x.pdf",
            {"issue_date": datetime.date(2024, 5, 1), "expiry_date": datetime.date(2024, 4, 1)},
            errors.EXPIRY_BEFORE_ISSUE,
        ),
        (PDF, "x.pdf", {"expiry_date": datetime.date(2001, 1, 1)}, "expired on 2001-01-01"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(
    tmp_path: Path, content: bytes, name: str, extra: dict[str, object], message: str
) -> None:
    c = client()
    with pytest.raises(KycError, match=re.escape(message)):
        _upload(c, "proof_of_identity", content, name, **extra)
    assert not Document.objects.exists()
    assert not any((tmp_path / "kyc").rglob("*")) if (tmp_path / "kyc").exists() else True


def test_bad_oversize_file_is_refused() -> None:
    with override_settings(KYC_MAX_UPLOAD_BYTES=1024), pytest.raises(KycError, match="the limit is 1024 bytes"):
        _upload(client(), "proof_of_identity", PDF + b"0" * 2000)
    assert not Document.objects.exists()


def test_bad_kind_for_the_client_type() -> None:
    with pytest.raises(KycError, match="Certificate of incorporation is not a document this client provides"):
        _upload(client(), "certificate_of_incorporation")


def test_all_documents_send_the_client_to_review_and_the_queue() -> None:
    c = client()
    _upload(c, "proof_of_identity")
    assert Client.objects.get(pk=c.pk).status == ClientStatus.REGISTERED
    assert [r.state for r in kyc_checklist(c)] == ["pending", "missing", "missing"]
    _upload(c, "proof_of_address", PNG, "bill.png")
    _upload(c, "suitability_questionnaire", JPEG, "q.jpg")
    assert Client.objects.get(pk=c.pk).status == ClientStatus.PENDING_REVIEW
    assert WorkItem.objects.get(queue__code="kyc_review", subject_id=str(c.pk)).status == "open"


def test_rejection_resubmission_and_re_review() -> None:
    c = client()
    identity, address, questionnaire = _complete(c)
    reviewer = staff(Role.COMPLIANCE)
    document_review(document_id=identity.pk, reviewer=reviewer, accept=True, note="photo and details match")
    document_review(
        document_id=address.pk, reviewer=reviewer, accept=False, reason_code="blurred", note="cannot read the address"
    )
    c.refresh_from_db()
    assert c.status == ClientStatus.PENDING_DOCUMENTS
    assert WorkItem.objects.get(queue__code="kyc_review", subject_id=str(c.pk)).status == "resolved"
    note = Interaction.objects.get(subject_id=str(c.pk))
    assert (
        note.template == "kyc.document_rejected" and "blurred or unreadable" in note.body and note.recipient == c.email
    )
    assert "cannot read the address" not in note.body  # the internal rationale stays internal
    assert {r.kind.value: r.state for r in kyc_checklist(c)}["proof_of_address"] == "rejected"
    replacement = _upload(c, "proof_of_address", PNG, "bill-2.png")
    assert replacement.replaces_id == address.pk
    assert Document.objects.get(pk=address.pk).status == DocumentStatus.SUPERSEDED
    c.refresh_from_db()
    assert c.status == ClientStatus.PENDING_REVIEW
    assert WorkItem.objects.filter(queue__code="kyc_review", subject_id=str(c.pk), status="open").count() == 1
    document_review(
        document_id=replacement.pk, reviewer=reviewer, accept=True, note="clear utility bill, address matches"
    )
    document_review(document_id=questionnaire.pk, reviewer=reviewer, accept=True, note="suitable")
    assert [r.state for r in kyc_checklist(c)] == ["accepted", "accepted", "accepted"]


@pytest.mark.parametrize(
    ("accept", "code", "note", "message"),
    [
        (False, "", "why", errors.REASON_CODE_REQUIRED),
        (True, "", " ", errors.RATIONALE_REQUIRED),
        (False, "blurred", "", errors.RATIONALE_REQUIRED),
    ],
)
def test_bad_decision_without_reason_or_rationale(accept: bool, code: str, note: str, message: str) -> None:
    doc = _upload(client(), "proof_of_identity")
    with pytest.raises(KycError, match=message):
        document_review(document_id=doc.pk, reviewer=staff(Role.COMPLIANCE), accept=accept, reason_code=code, note=note)
    assert Document.objects.get(pk=doc.pk).status == DocumentStatus.PENDING


def test_bad_support_cannot_review_and_a_decided_document_is_final() -> None:
    doc = _upload(client(), "proof_of_identity")
    with pytest.raises(KycError, match="may not review"):
        document_review(document_id=doc.pk, reviewer=staff(Role.SUPPORT), accept=True, note="ok")
    document_review(document_id=doc.pk, reviewer=staff(Role.COMPLIANCE), accept=True, note="ok")
    with pytest.raises(KycError, match="accepted; only a pending document"):
        document_review(
            document_id=doc.pk, reviewer=staff(Role.COMPLIANCE), accept=False, reason_code="other", note="x"
        )


def test_files_only_through_the_permission_checked_view(client: HttpClient) -> None:
    from tests.factories import client as make_client

    c = make_client()
    doc = _upload(c, "proof_of_identity")
    assert client.get(f"/kyc/documents/{doc.pk}/file/").status_code == 302  # anonymous: to the login
    sign_in(client, staff())  # no role
    assert client.get(f"/kyc/documents/{doc.pk}/file/").status_code == 404
    sign_in(client, staff(Role.COMPLIANCE))
    response = client.get(f"/kyc/documents/{doc.pk}/file/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/pdf" and response["X-Content-Type-Options"] == "nosniff"
    assert AuditEvent.objects.filter(action="kyc.document_viewed").exists()


def test_bad_identity_files_stay_closed_to_roles_other_than_compliance_and_the_auditor(client: HttpClient) -> None:
    """Support, finance, risk and admin see the document's checklist state on its review screen,
    never its bytes; compliance and the auditor see it embedded and may open it."""
    from tests.factories import client as make_client

    doc = _upload(make_client(), "proof_of_identity")
    file_url = f"/kyc/documents/{doc.pk}/file/"
    for role in (Role.SUPPORT, Role.FINANCE, Role.RISK, Role.ADMIN):
        sign_in(client, staff(role))
        assert client.get(file_url).status_code == 403, role
        page = html.unescape(client.get(f"/kyc/documents/{doc.pk}/").content.decode())
        assert errors.FILE_NOT_ALLOWED in page and file_url not in page, role
    assert not AuditEvent.objects.filter(action="kyc.document_viewed").exists()
    for role in (Role.COMPLIANCE, Role.AUDITOR):
        sign_in(client, staff(role))
        page = html.unescape(client.get(f"/kyc/documents/{doc.pk}/").content.decode())
        assert file_url in page and errors.FILE_NOT_ALLOWED not in page, role
        assert client.get(file_url).status_code == 200, role


def test_review_screen_offers_the_decision_only_while_document_can_review_allows(client: HttpClient) -> None:
    from tests.factories import client as make_client

    doc = _upload(make_client(), "proof_of_identity")
    sign_in(client, staff(Role.SUPPORT))
    page = html.unescape(client.get(f"/kyc/documents/{doc.pk}/").content.decode())
    assert ">Accept</button>" not in page and errors.NOT_ALLOWED.format(verb="review documents") in page
    sign_in(client, staff(Role.COMPLIANCE))
    assert ">Accept</button>" in client.get(f"/kyc/documents/{doc.pk}/").content.decode()
    document_review(document_id=doc.pk, reviewer=staff(Role.COMPLIANCE), accept=True, note="a clear scan")
    page = html.unescape(client.get(f"/kyc/documents/{doc.pk}/").content.decode())
    assert ">Accept</button>" not in page and errors.NOT_PENDING.format(status="accepted") in page


def test_upload_and_review_through_the_pages(client: HttpClient) -> None:
    from tests.factories import client as make_client

    c = make_client()
    sign_in(client, staff(Role.SUPPORT))
    bad = client.post(
        f"/kyc/clients/{c.pk}/documents/", {"kind": "proof_of_identity", "file": _file(b"GIF89a...", "id.pdf")}
    )
    assert bad.status_code == 400 and html.escape(errors.BAD_TYPE) in bad.content.decode()
    client.post(f"/kyc/clients/{c.pk}/documents/", {"kind": "proof_of_identity", "file": _file()})
    doc = Document.objects.get()
    page = client.get(f"/clients/{c.pk}/").content.decode()
    assert 'data-testid="kyc-checklist"' in page and "Proof of identity" in page
    sign_in(client, staff(Role.COMPLIANCE))
    refused = client.post(f"/kyc/documents/{doc.pk}/", {"decision": "reject", "reason_code": "", "note": "unreadable"})
    assert refused.status_code == 409 and errors.REASON_CODE_REQUIRED in refused.content.decode()
    client.post(
        f"/kyc/documents/{doc.pk}/", {"decision": "reject", "reason_code": "expired", "note": "expired last month"}
    )
    assert Document.objects.get().status == DocumentStatus.REJECTED


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_rejection_message_is_sent_by_a_real_worker(
    celery_worker_process: subprocess.Popen[str], tmp_path: Path
) -> None:
    c = client()
    identity, *_ = _complete(c)
    document_review(
        document_id=identity.pk,
        reviewer=staff(Role.COMPLIANCE),
        accept=False,
        reason_code="name_mismatch",
        note="different surname",
    )
    sent = wait_for(lambda: Interaction.objects.filter(subject_id=str(c.pk), status="sent").first())
    assert sent is not None and sent.sent_at is not None
    assert len(mail.outbox) == 0  # sent by the worker process, not here
