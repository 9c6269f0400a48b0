"""The identity verification provider's evidence in the browser: a passport is uploaded whose name
is not the profile's; a real worker sends it to the simulated provider, whose signed result comes
back by HTTP and is processed. The reviewer sees the result on the client's checklist, opens the
document, and finds the provider's evidence beside it - the result, the score, what it read and
where that differs from the profile - with the decision still theirs: they reject it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from playwright.sync_api import Page, expect

from kyc.models import DocumentStatus, IdentityCheckStatus
from kyc.services.documents import document_upload
from ops.models import WorkItem
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.factories import staff
from tests.kyc.files import png
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def idv_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    from backoffice.celery import app

    app.control.purge()
    storage = tmp_path / "kyc"
    env = {"SIMIDV_WEBHOOK_URL": f"{live_server.url}/webhooks/identity/", "KYC_STORAGE_ROOT": str(storage)}
    worker = Worker("idv", tmp_path / "worker.log", env=env)
    try:
        with override_settings(KYC_STORAGE_ROOT=storage):
            yield worker.wait_ready()
    finally:
        worker.stop()


def test_good_the_reviewer_sees_the_providers_evidence_beside_the_document_and_decides(
    page: Page, idv_worker: Worker
) -> None:
    staff(Role.COMPLIANCE, username="carla")
    c = make_client(first_name="Grace", last_name="Hopper")
    document = document_upload(
        client_id=c.pk,
        kind="proof_of_identity",
        upload=SimpleUploadedFile("passport name-Grace_Murray.png", png()),
        actor=staff(Role.SUPPORT),
        number="P5550001",
    )
    check = wait_for(document.identity_checks.filter(status=IdentityCheckStatus.COMPLETED).first, timeout=60)
    assert check is not None
    wait_for(lambda: WorkItem.objects.filter(queue__code="kyc_exception", subject_id=str(check.pk)).exists())

    sign_in(page, "carla")
    page.goto(f"/clients/{c.pk}/")
    row = page.get_by_test_id("kyc-checklist").locator("tr[data-kind=proof_of_identity]")
    expect(row.get_by_test_id("identity-chip")).to_have_text("ID check: does not match the profile, score 65")
    row.get_by_role("link", name=f"#{document.pk}", exact=True).click()

    evidence = page.get_by_test_id("identity-evidence")
    expect(evidence.get_by_test_id("identity-result")).to_have_text("Does not match the profile")
    expect(evidence.get_by_test_id("identity-score")).to_have_text("65")
    differs = evidence.get_by_test_id("identity-differs")
    expect(differs).to_have_count(1)
    expect(differs).to_contain_text("Grace Murray")
    expect(differs).to_contain_text("Grace Hopper")
    expect(evidence.get_by_test_id("identity-mismatches")).to_have_text("Does not match the profile: name.")
    expect(evidence).to_contain_text("P5550001")
    # beside the document: the viewer on the left, the evidence to its right, both in view
    viewer = page.get_by_role("region", name="Document")
    expect(viewer.locator("img")).to_be_visible()
    viewer_box, evidence_box = viewer.bounding_box(), evidence.bounding_box()
    assert viewer_box is not None and evidence_box is not None
    assert evidence_box["x"] >= viewer_box["x"] + viewer_box["width"]
    shot(page, "identity-evidence")

    # the provider decided nothing: the reviewer does
    expect(page.get_by_test_id("document-status")).to_have_text("Pending review")
    decide = page.get_by_role("form", name="Decide")
    decide.get_by_label("Rejection reason (to reject)").select_option(label="Name does not match")
    decide.get_by_label("Rationale").fill("The provider read Grace Murray; the profile says Grace Hopper.")
    decide.get_by_role("button", name="Reject").click()
    expect(page.locator(".messages")).to_contain_text("Decision recorded.")
    document.refresh_from_db()
    assert (document.status, document.rejection_reason) == (DocumentStatus.REJECTED, "name_mismatch")
    # the KYC exception the mismatch opened is closed with the decision
    assert WorkItem.objects.get(queue__code="kyc_exception", subject_id=str(check.pk)).resolution_code == "rejected"
