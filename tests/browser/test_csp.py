"""Finding 8 of issue 14 in a real browser: the main pages, the document viewer and the Django admin
work under the strict Content-Security-Policy with no violation reported (neither a
``securitypolicyviolation`` event nor a console message), and the SLA countdown, now a static
script, still ticks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from playwright.sync_api import ConsoleMessage, Page, expect

from kyc.models import RiskFactor
from kyc.services.documents import document_upload
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import client as register_client
from tests.factories import staff, work_item
from tests.kyc import files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Every frame records the violations it sees (init scripts are not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(autouse=True)
def kyc_storage(tmp_path: Path) -> Iterator[Path]:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield tmp_path / "kyc"


class Watch:
    """The CSP reports of a page: console messages and the violation events of every frame."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        self.page.wait_for_load_state("load")
        self.assert_clean(url)

    def assert_clean(self, where: str) -> None:
        events = [v for frame in self.page.frames for v in (frame.evaluate("window.__cspViolations || []") or [])]
        assert (where, events, self.console) == (where, [], [])


def test_main_pages_report_no_csp_violation(page: Page) -> None:
    compliance = staff(Role.COMPLIANCE, username="carla")
    staff(Role.SUPPORT, username="sam")
    c = register_client()
    pdf = document_upload(
        client_id=c.pk, kind="proof_of_identity", upload=SimpleUploadedFile("id.pdf", files.pdf()), actor=None
    )
    png = document_upload(
        client_id=c.pk, kind="proof_of_address", upload=SimpleUploadedFile("bill.png", files.png()), actor=None
    )
    item = work_item("kyc_review", title="KYC review: a client")
    watch = Watch(page)

    watch.visit("/login/")
    sign_in(page, compliance.username)
    watch.assert_clean("after sign-in")
    for url in [
        "/",
        "/queues/",
        "/queues/kyc_review/",
        f"/items/{item.pk}/",
        "/clients/",
        f"/clients/{c.pk}/",
        "/approvals/",
        "/kyc/sanctions-lists/",
        "/payments/",
    ]:
        watch.visit(url)

    # The document viewer: the image inline, the PDF in its frame (the file's own sandboxing policy).
    watch.visit(f"/kyc/documents/{png.pk}/")
    image = page.get_by_role("region", name="Document").get_by_role("img")
    assert image.evaluate("async img => { await img.decode(); return img.naturalWidth; }") == 240
    watch.visit(f"/kyc/documents/{pdf.pk}/")
    page.wait_for_timeout(1500)  # the PDF viewer loads in its frame
    watch.assert_clean("pdf viewer")
    shot(page, "kyc-review-pdf-under-csp")


def test_register_form_switches_fields_by_client_kind_under_the_policy(page: Page) -> None:
    staff(Role.SUPPORT, username="sam")
    watch = Watch(page)
    sign_in(page, "sam")
    watch.visit("/clients/new/")
    kind = page.get_by_label("Kind")
    kind.select_option("individual")
    expect(page.get_by_label("First name")).to_be_visible()
    expect(page.get_by_label("Legal name")).to_be_hidden()
    kind.select_option("corporate")
    expect(page.get_by_label("Legal name")).to_be_visible()
    expect(page.get_by_label("First name")).to_be_hidden()
    watch.assert_clean("register form")


def test_admin_works_under_the_policy(page: Page) -> None:
    admin = staff(Role.ADMIN, username="ada")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    factor = RiskFactor.objects.order_by("pk").first()
    watch = Watch(page)
    sign_in(page, "ada")
    watch.visit("/admin/")
    watch.visit("/admin/kyc/riskfactor/")
    if factor is not None:
        watch.visit(f"/admin/kyc/riskfactor/{factor.pk}/change/")
    watch.visit("/admin/ops/user/")
    watch.visit(f"/admin/ops/user/{admin.pk}/change/")


def test_sla_countdown_still_ticks(page: Page) -> None:
    """The chip is rendered by the server; the static script rewrites it every 30 s. Playwright's
    clock moves the page's time past the due time: the chip turns to "overdue" without a reload."""
    staff(Role.COMPLIANCE, username="carla")
    item = work_item("kyc_review", title="KYC review: a client")
    assert item.due_at is not None
    watch = Watch(page)
    page.clock.install()
    sign_in(page, "carla")
    watch.visit("/queues/kyc_review/")
    chip = page.locator("[data-due]").first
    expect(chip).to_have_text(re.compile(r"^due in "))
    page.clock.fast_forward(int((item.due_at - item.created_at + timedelta(minutes=45)).total_seconds() * 1000))
    page.clock.run_for(31_000)
    expect(chip).to_have_text(re.compile(r"^overdue \d+m$"))
    expect(chip).to_have_class(re.compile(r"\blate\b"))
    watch.assert_clean("sla countdown")
