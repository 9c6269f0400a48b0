"""The CRM in the browser: a sales user moves a contact to another stage in the simulated CRM's
page; the CRM notifies the back office by its signed webhook, and the client 360's CRM panel shows
the new stage, the tag and the call in the interaction log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from sim.models import SimCrmContact
from tests.browser.conftest import shot, sign_in
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.factories import staff
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def crm_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    """A real worker whose simulated CRM sends its notifications to this test's server."""
    from backoffice.celery import app

    app.control.purge()
    worker = Worker("crm", tmp_path / "worker.log", env={"SIMCRM_WEBHOOK_URL": f"{live_server.url}/webhooks/crm/"})
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


def test_good_a_stage_changed_in_the_crm_shows_on_the_client_360(page: Page, crm_worker: Worker) -> None:
    staff(Role.SUPPORT, username="sam")
    c = make_client(first_name="Rita", last_name="Prospect")
    contact = wait_for(lambda: SimCrmContact.objects.filter(external_id=c.reference).first(), timeout=60)
    assert contact is not None
    sign_in(page, "sam")

    page.goto(f"/clients/{c.pk}/")
    panel = page.get_by_test_id("crm-panel")
    expect(panel.get_by_test_id("crm-stage")).to_have_text("—")  # pushed; nothing from the CRM yet

    panel.get_by_role("link", name=contact.crm_id).click()  # opens the contact in the (simulated) CRM
    expect(page.get_by_test_id("sim-crm-fields")).to_contain_text("registered")
    page.get_by_label("Sales stage").select_option("qualified")
    page.get_by_label("Tags").fill("vip, webinar")
    page.get_by_label("Record type").select_option("call")
    page.get_by_label("Add a communication record").fill("Called: wants a demo account")
    page.get_by_role("button", name="Save in the CRM").click()
    expect(page.locator(".msg.success")).to_contain_text("the back office is notified")
    shot(page, "sim-crm-contact")

    page.goto(f"/clients/{c.pk}/")
    for _ in range(60):  # the CRM's notification arrives by HTTP and a worker applies it
        if page.get_by_test_id("crm-stage").inner_text() == "qualified":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.get_by_test_id("crm-stage")).to_have_text("qualified")
    expect(page.get_by_test_id("crm-tags")).to_contain_text("vip")
    expect(page.get_by_test_id("crm-tags")).to_contain_text("webinar")
    shot(page, "client-crm-panel")
    page.get_by_role("link", name="Interaction log").click()
    expect(page.get_by_test_id("interactions")).to_contain_text("Call: Called: wants a demo account")
    expect(page.get_by_test_id("interactions")).to_contain_text("CRM record")
