"""Outbound webhooks in the browser: an administrator adds an endpoint pointing at the simulated
receiver (``sim.webhooks``, served by the same server), copies the secret shown once into the
receiver, sees a client's status change delivered and signed, replays it, and sees the endpoint
disabled when the receiver answers 410 Gone.

The delivery attempts are made by the service the worker task runs (``webhook_deliver``); the worker
itself is exercised in tests/ops/test_webhook_worker_crash.py."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.services.clients import client_transition
from ops.models import WebhookDelivery
from ops.services.webhooks import webhook_deliver
from sim.models import SimWebhookReceipt, SimWebhookReceiver
from tests.browser.conftest import shot, sign_in
from tests.factories import approvable_client, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _deliver_pending() -> list[str]:
    return [webhook_deliver(delivery_id=pk).result for pk in WebhookDelivery.objects.values_list("pk", flat=True)]


def test_good_endpoint_journey_create_deliver_replay_and_gone(page: Page, live_server: Any) -> None:
    from ops.roles import Role

    staff(Role.ADMIN, username="ada")
    sign_in(page, "ada")
    page.get_by_role("link", name="Webhooks", exact=True).click()
    form = page.get_by_test_id("endpoint-create")
    form.get_by_label("URL").fill(f"{live_server.url}/sim/webhooks/crm/")
    form.get_by_label("Description").fill("Sales CRM")
    form.get_by_label("client.status_changed", exact=False).check()
    form.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sales CRM")
    secret = page.get_by_test_id("secret-value").inner_text().strip()
    assert secret.startswith("whsec_")
    shot(page, "webhook-endpoint-created")
    # the receiving system's operator pastes the secret into its configuration
    SimWebhookReceiver.objects.create(name="crm", secrets=secret)
    page.reload()
    expect(page.get_by_test_id("new-secret")).to_have_count(0)  # shown once

    c = approvable_client()
    client_transition(client_id=c.pk, name="submit_for_review", actor=None)
    from ops.services.webhooks import webhooks_fan_out

    webhooks_fan_out()
    assert _deliver_pending() == ["delivered"]
    page.reload()
    row = page.get_by_test_id("deliveries").locator("tbody tr").first
    expect(row.get_by_test_id("delivery-status")).to_have_text("Delivered")
    expect(row.get_by_test_id("attempt")).to_contain_text("HTTP 200")
    shot(page, "webhook-deliveries")

    row.get_by_role("button", name="Replay").click()
    expect(page.locator(".messages")).to_contain_text("queued to be sent again")
    assert _deliver_pending() == ["delivered"]
    page.reload()
    expect(page.get_by_test_id("deliveries").locator("tbody tr").first.get_by_test_id("attempt")).to_have_count(2)
    receipts = list(SimWebhookReceipt.objects.order_by("id").values_list("webhook_id", "verified", "answered"))
    event_id = str(WebhookDelivery.objects.get().event_id)
    assert receipts == [(event_id, True, 200), (event_id, True, 200)]

    SimWebhookReceiver.objects.filter(name="crm").update(mode="gone")
    page.get_by_test_id("deliveries").get_by_role("button", name="Replay").first.click()
    assert _deliver_pending() == ["gone"]
    page.reload()
    expect(page.get_by_test_id("endpoint-state")).to_have_text("disabled")
    expect(page.get_by_test_id("disabled-reason")).to_contain_text("410 Gone")
    shot(page, "webhook-endpoint-gone")
