"""Pre-launch check "document rejection, resubmission, and re-review", through the pages: support
uploads a registered individual's documents on the client 360 (a disguised file is refused), the
client goes to review by itself, compliance rejects the proof of address from the review screen,
support uploads a replacement that is linked to the rejected one, and compliance accepts it."""

from __future__ import annotations

import datetime
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from playwright.sync_api import Locator, Page, expect

from accounts.models import Client, ClientStatus
from kyc import errors
from kyc.models import Document, DocumentStatus
from ops.models import Interaction, WorkItem
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import client as register_client
from tests.factories import staff
from tests.kyc import files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PDF = files.pdf()
JPEG = files.jpeg()
NOT_A_PDF = b"MZ\x90\x00 this is an exe"  # a program renamed to .pdf


def png(width: int = 240, height: int = 150, rgb: tuple[int, int, int] = (200, 210, 220)) -> bytes:
    """A real (decodable) PNG, so the review screen's viewer has a picture to show."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


BILL = png()
BILL_RESCANNED = png(rgb=(230, 230, 200))


@pytest.fixture(autouse=True)
def kyc_storage(tmp_path: Path) -> Iterator[Path]:
    """Documents go under tmp_path (the live server runs in this process, so it sees the override)."""
    root = tmp_path / "kyc"
    with override_settings(KYC_STORAGE_ROOT=root):
        yield root


# --- helpers ------------------------------------------------------------------------------------


def upload_form(page: Page) -> Locator:
    """The upload form of the client 360, its "Upload a document" section opened if need be."""
    details = page.get_by_test_id("kyc-panel").locator("details").filter(has_text="Upload a document")
    if not details.evaluate("d => d.open"):
        details.locator("summary").click()
    form = page.get_by_role("form", name="Upload document")
    expect(form).to_be_visible()
    return form


def upload(
    page: Page,
    document: str,
    *,
    name: str,
    mime: str,
    content: bytes,
    number: str = "",
    issue: str = "",
    expiry: str = "",
) -> int:
    """Fill and send the upload form; the HTTP status of the POST."""
    form = upload_form(page)
    form.get_by_label("Document", exact=True).select_option(label=document)
    form.get_by_label("File (PDF, JPEG or PNG)").set_input_files({"name": name, "mimeType": mime, "buffer": content})
    if number:
        form.get_by_label("Document number").fill(number)
    if issue:
        form.get_by_label("Issue date").fill(issue)
    if expiry:
        form.get_by_label("Expiry date").fill(expiry)
    with page.expect_response(lambda r: r.request.method == "POST" and "/kyc/clients/" in r.url) as posted:
        form.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()
    return posted.value.status


def checklist_row(page: Page, kind: str) -> Locator:
    return page.get_by_test_id("kyc-checklist").locator(f"tr[data-kind={kind}]")


def expect_checklist(page: Page, **states: str) -> None:
    for kind, state in states.items():
        expect(checklist_row(page, kind).locator(".chip")).to_have_text(state)


def document_row(page: Page, pk: int) -> Locator:
    table = page.get_by_test_id("kyc-documents")
    return table.locator("tbody tr").filter(has=page.get_by_role("link", name=str(pk), exact=True))


def open_from_checklist(page: Page, kind: str, pk: int) -> None:
    """Follow the checklist link to the review screen; the document's file loads in the viewer."""
    with page.expect_response(lambda r: r.url.endswith(f"/kyc/documents/{pk}/file/")) as file_response:
        checklist_row(page, kind).get_by_role("link", name=f"#{pk}", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/kyc/documents/{pk}/$"))
    response = file_response.value
    assert response.status == 200, response.status
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"


def review_checklist(page: Page) -> Locator:
    """The checklist items beside the document on the review screen."""
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name="Checklist", exact=True))
    return card.locator("ul li")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def open_kyc_reviews(client: Client) -> int:
    return WorkItem.objects.filter(
        queue__code="kyc_review", subject_id=str(client.pk), status__in=["open", "in_progress"]
    ).count()


# --- the journey ----------------------------------------------------------------------------------


def test_document_rejection_resubmission_and_re_review(
    page: Page, new_page: Callable[[], Page], kyc_storage: Path
) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.COMPLIANCE, username="carla")
    client = register_client()
    assert client.status == ClientStatus.REGISTERED
    today = datetime.date.today()
    expiry = today.replace(year=today.year + 5, day=1).isoformat()

    # --- support opens the client 360: nothing uploaded yet ---
    sign_in(page, "sam")
    page.goto(f"/clients/{client.pk}/")
    expect(page.get_by_test_id("client-status")).to_have_text("Registered")
    expect_checklist(page, proof_of_identity="missing", proof_of_address="missing", suitability_questionnaire="missing")
    expect(page.get_by_test_id("kyc-documents")).to_contain_text("No documents yet.")

    # --- a program renamed to .pdf is refused by its content; nothing is stored ---
    status = upload(
        page, "Proof of identity", name="passport.pdf", mime="application/pdf", content=NOT_A_PDF, number="P1234567"
    )
    assert status == 400, status
    form = page.get_by_role("form", name="Upload document")
    expect(form).to_be_visible()  # the section stays open to show the error
    file_field = form.locator(".field").filter(has=page.get_by_label("File (PDF, JPEG or PNG)"))
    expect(file_field.get_by_role("alert")).to_have_text(errors.BAD_TYPE)
    expect(form.locator(".field.invalid")).to_have_count(1)
    expect(form.get_by_label("Document", exact=True)).to_have_value("proof_of_identity")
    expect(form.get_by_label("Document number")).to_have_value("P1234567")
    expect(page.get_by_test_id("client-status")).to_have_text("Registered")
    expect_checklist(page, proof_of_identity="missing")
    expect(page.get_by_test_id("kyc-documents")).to_contain_text("No documents yet.")
    assert not Document.objects.exists()
    assert stored_files(kyc_storage) == []

    # --- the three required documents; the client goes to review by itself after the third ---
    status = upload(
        page,
        "Proof of identity",
        name="passport.pdf",
        mime="application/pdf",
        content=PDF,
        number="P1234567",
        issue="2021-03-01",
        expiry=expiry,
    )
    assert status == 302, status
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("Document uploaded for review.")
    expect_checklist(page, proof_of_identity="pending", proof_of_address="missing")
    expect(page.get_by_test_id("client-status")).to_have_text("Registered")

    assert upload(page, "Proof of address", name="utility-bill.png", mime="image/png", content=BILL) == 302
    expect_checklist(page, proof_of_address="pending", suitability_questionnaire="missing")
    expect(page.get_by_test_id("client-status")).to_have_text("Registered")
    assert open_kyc_reviews(client) == 0

    status = upload(page, "Suitability questionnaire", name="questionnaire.jpg", mime="image/jpeg", content=JPEG)
    assert status == 302, status
    expect_checklist(page, proof_of_identity="pending", proof_of_address="pending", suitability_questionnaire="pending")
    expect(page.get_by_test_id("client-status")).to_have_text("Pending review")
    expect(page.get_by_test_id("kyc-documents").locator("tbody tr")).to_have_count(3)
    assert Client.objects.get(pk=client.pk).status == ClientStatus.PENDING_REVIEW
    assert open_kyc_reviews(client) == 1
    identity = Document.objects.get(client=client, kind="proof_of_identity")
    address = Document.objects.get(client=client, kind="proof_of_address")
    assert (identity.content_type, identity.number, identity.original_name) == (
        "application/pdf",
        "P1234567",
        "passport.pdf",
    )
    assert address.content_type == "image/png" and address.size == len(BILL)
    assert len(stored_files(kyc_storage)) == 5  # three originals, and a re-encoded viewing copy of each image

    # --- compliance (another desk) opens the proof of address from the checklist ---
    carla = new_page()
    sign_in(carla, "carla")
    carla.goto(f"/clients/{client.pk}/")
    expect(carla.get_by_test_id("client-status")).to_have_text("Pending review")
    open_from_checklist(carla, "proof_of_address", address.pk)
    expect(carla.get_by_role("heading", level=1)).to_contain_text(f"Proof of address #{address.pk}")
    expect(carla.get_by_test_id("document-status")).to_have_text("Pending review")
    viewer = carla.get_by_role("region", name="Document")
    image = viewer.get_by_role("img")
    expect(image).to_be_visible()
    assert image.evaluate("async img => { await img.decode(); return img.naturalWidth; }") == 240
    expect(viewer).to_contain_text("utility-bill.png · image/png")
    expect(carla.get_by_text(client.display_name, exact=True).first).to_be_visible()
    expect(review_checklist(carla)).to_have_text(
        ["Proof of identity pending", "Proof of address pending", "Suitability questionnaire pending"]
    )
    shot(carla, "kyc-review-screen")

    # Reject without a reason code: the error is shown and nothing changes.
    decide = carla.get_by_role("form", name="Decide")
    rationale = "The scan is blurred; the street and postcode cannot be read."
    decide.get_by_label("Rationale").fill(rationale)
    with carla.expect_response(lambda r: r.request.method == "POST") as posted:
        decide.get_by_role("button", name="Reject").click()
    assert posted.value.status == 409, posted.value.status
    decide = carla.get_by_role("form", name="Decide")
    expect(decide.get_by_role("alert")).to_have_text(errors.REASON_CODE_REQUIRED)
    expect(decide.get_by_label("Rationale")).to_have_value(rationale)
    expect(carla.get_by_test_id("document-status")).to_have_text("Pending review")
    address.refresh_from_db()
    assert address.status == DocumentStatus.PENDING and address.reviewed_by_id is None
    assert Client.objects.get(pk=client.pk).status == ClientStatus.PENDING_REVIEW
    assert not Interaction.objects.filter(subject_id=str(client.pk)).exists()
    assert open_kyc_reviews(client) == 1

    # Reject as blurred: the client is asked for a new document.
    decide.get_by_label("Rejection reason (to reject)").select_option(label="Blurred or unreadable")
    decide.get_by_role("button", name="Reject").click()
    expect(carla).to_have_url(re.compile(rf"/clients/{client.pk}/$"))
    expect(carla.locator(".messages")).to_contain_text("Decision recorded.")
    expect(carla.get_by_test_id("client-status")).to_have_text("Pending additional documents")
    expect_checklist(
        carla, proof_of_identity="pending", proof_of_address="rejected", suitability_questionnaire="pending"
    )
    rejected_row = document_row(carla, address.pk)
    expect(rejected_row.locator("td").nth(2)).to_have_text("Rejected Blurred or unreadable")
    expect(rejected_row.locator("td").nth(4)).to_contain_text("carla: The scan is blurred")
    shot(carla, "kyc-checklist-after-rejection")
    address.refresh_from_db()
    assert (address.status, address.rejection_reason, address.review_note) == (
        DocumentStatus.REJECTED,
        "blurred",
        rationale,
    )
    assert Client.objects.get(pk=client.pk).status == ClientStatus.PENDING_DOCUMENTS
    assert open_kyc_reviews(client) == 0
    message = Interaction.objects.get(subject_id=str(client.pk), subject_type__model="client")
    assert message.template == "kyc.document_rejected" and message.recipient == client.email
    assert message.title == "We need a new Proof of address"
    assert "blurred or unreadable" in message.body and rationale not in message.body

    # --- support uploads a replacement: linked to the rejected one, the client back to review ---
    page.goto(f"/clients/{client.pk}/")
    expect(page.get_by_test_id("client-status")).to_have_text("Pending additional documents")
    expect_checklist(page, proof_of_address="rejected")
    status = upload(
        page, "Proof of address", name="utility-bill-rescanned.png", mime="image/png", content=BILL_RESCANNED
    )
    assert status == 302, status
    expect(page.get_by_test_id("client-status")).to_have_text("Pending review")
    replacement = Document.objects.get(client=client, kind="proof_of_address", status=DocumentStatus.PENDING)
    assert replacement.replaces_id == address.pk
    expect(checklist_row(page, "proof_of_address").locator(".chip")).to_have_text("pending")
    expect(checklist_row(page, "proof_of_address").get_by_role("link")).to_have_text(f"#{replacement.pk}")
    documents = page.get_by_test_id("kyc-documents").locator("tbody tr")
    expect(documents).to_have_count(4)
    expect(documents.first.locator("td").first).to_have_text(str(replacement.pk))  # newest first
    old_row, new_row = document_row(page, address.pk), document_row(page, replacement.pk)
    expect(old_row.locator("td").nth(2)).to_have_text("Replaced Blurred or unreadable")
    expect(old_row.locator("td").nth(5)).to_have_text("")
    expect(new_row.locator("td").nth(1)).to_have_text("Proof of address")
    expect(new_row.locator("td").nth(2)).to_have_text("Pending review")
    expect(new_row.locator("td").nth(5)).to_have_text(f"#{address.pk}")
    assert Document.objects.get(pk=address.pk).status == DocumentStatus.SUPERSEDED
    assert Client.objects.get(pk=client.pk).status == ClientStatus.PENDING_REVIEW
    assert open_kyc_reviews(client) == 1

    # --- compliance opens the replacement from the checklist and accepts it ---
    carla.goto(f"/clients/{client.pk}/")
    expect(carla.get_by_test_id("client-status")).to_have_text("Pending review")
    open_from_checklist(carla, "proof_of_address", replacement.pk)
    expect(carla.get_by_test_id("document-status")).to_have_text("Pending review")
    replaces = carla.locator("dl.kv dt", has_text="Replaces").locator("xpath=following-sibling::dd[1]")
    expect(replaces).to_have_text(f"#{address.pk} (Blurred or unreadable)")
    expect(review_checklist(carla).nth(1)).to_have_text("Proof of address pending")
    shot(carla, "kyc-review-replacement")
    decide = carla.get_by_role("form", name="Decide")
    decide.get_by_label("Rationale").fill("Clear utility bill; the address matches the application.")
    decide.get_by_role("button", name="Accept").click()
    expect(carla).to_have_url(re.compile(rf"/clients/{client.pk}/$"))
    expect(carla.locator(".messages")).to_contain_text("Decision recorded.")
    expect_checklist(
        carla, proof_of_identity="pending", proof_of_address="accepted", suitability_questionnaire="pending"
    )
    expect(document_row(carla, replacement.pk).locator("td").nth(2)).to_have_text("Accepted")
    expect(carla.get_by_test_id("client-status")).to_have_text("Pending review")
    shot(carla, "kyc-checklist-after-re-review")
    replacement.refresh_from_db()
    assert replacement.status == DocumentStatus.ACCEPTED and replacement.reviewed_by is not None
    assert replacement.reviewed_by.username == "carla"
    assert Interaction.objects.filter(subject_id=str(client.pk)).count() == 1  # no message for an acceptance

    # The reviewed document's page is final: no decision form any more.
    carla.goto(f"/kyc/documents/{replacement.pk}/")
    expect(carla.get_by_test_id("document-status")).to_have_text("Accepted")
    expect(carla.get_by_role("form", name="Decide")).to_have_count(0)

    # A PDF is shown in a frame fed by the same permission-checked view (no <object>: the page's
    # policy allows no plugins).
    carla.goto(f"/kyc/documents/{identity.pk}/")
    expect(carla.get_by_test_id("document-status")).to_have_text("Pending review")
    pdf_viewer = carla.get_by_role("region", name="Document").locator("iframe.pdf")
    expect(pdf_viewer).to_have_attribute("src", f"/kyc/documents/{identity.pk}/file/")
