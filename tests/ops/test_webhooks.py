"""Outbound webhooks: the outbox written with the change, Standard Webhooks signatures (checked
with the reference library), rotation, retries, 410, the SSRF guard, the pages and the events API.

Deliveries here are attempted by calling the service the worker task calls (``webhook_deliver``)
against a real HTTP receiver on 127.0.0.1; the worker itself (and its kill -9) is in
``test_webhook_worker_crash.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client as HttpClient
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import Client
from accounts.services.clients import client_transition
from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.events import EventType
from ops.models import (
    DeliveryStatus,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WorkItem,
)
from ops.roles import Role
from ops.selectors import event_list
from ops.services.events import event_publish
from ops.services.webhooks import (
    WebhookError,
    webhook_deliver,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_enable,
    webhook_secret_rotate,
    webhooks_fan_out,
    webhooks_sweep,
)
from sim.models import SimWebhookReceipt, SimWebhookReceiver
from tests.factories import approvable_client, approved_client, card_deposit, staff
from tests.factories import client as make_client
from tests.ops.receiver import Receiver
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

ALL_TYPES = [EventType.CLIENT_STATUS_CHANGED.value, EventType.DEPOSIT_SUCCEEDED.value]


def _endpoint(url: str, types: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_create(
        url=url, description="CRM", event_types=types or [EventType.CLIENT_STATUS_CHANGED], actor=staff(Role.ADMIN)
    )


def _submit(c: Client) -> Client:
    return client_transition(client_id=c.pk, name="submit_for_review", actor=None)


def _deliveries_of(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    webhooks_fan_out()
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id"))


def _due_now(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# --- the outbox ---------------------------------------------------------------------------------


def test_good_transition_writes_one_outbox_event_with_the_change() -> None:
    c = approvable_client()
    _submit(c)
    event = OutboxEvent.objects.get(type=EventType.CLIENT_STATUS_CHANGED, subject_id=str(c.pk))
    assert (event.subject_type, event.fanned_out_at) == ("accounts.client", event.created_at)  # fanned out with it
    assert event.data == {
        "client": c.reference,
        "client_id": c.pk,
        "transition": "submit_for_review",
        "from": "registered",
        "to": "pending_review",
    }
    assert event.id.version == 7


def test_bad_outbox_event_is_rolled_back_with_its_transaction() -> None:
    c = approvable_client()
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        _submit(c)
        assert event_list().filter(subject_type="accounts.client", subject_id=str(c.pk)).count() == 1
        raise RuntimeError("boom")
    assert event_list().filter(subject_type="accounts.client", subject_id=str(c.pk)).count() == 0
    assert Client.objects.get(pk=c.pk).status == "registered"


def test_bad_publish_outside_a_transaction_is_refused() -> None:
    c = make_client()
    connection = transaction.get_connection()
    # pytest-django wraps the test in a transaction: step outside it the way a caller without one is
    in_atomic = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            event_publish(type=EventType.CLIENT_STATUS_CHANGED, subject=c, data={})
    finally:
        connection.in_atomic_block = in_atomic


def test_good_deposit_withdrawal_and_document_review_publish_their_events() -> None:
    from payments.models import Withdrawal, WithdrawalStatus
    from payments.services.ledger import wallet_for
    from payments.services.withdrawals import withdrawal_payout_result, withdrawal_request

    c = approved_client(provision=False)
    deposit = card_deposit(c, "500.00")
    event = OutboxEvent.objects.get(type=EventType.DEPOSIT_SUCCEEDED)
    assert (event.subject_type, event.subject_id) == ("payments.deposit", str(deposit.pk))
    assert {k: event.data[k] for k in ("deposit", "client", "amount", "currency")} == {
        "deposit": deposit.reference,
        "client": c.reference,
        "amount": "500.00",
        "currency": "EUR",
    }
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="100.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    Withdrawal.objects.filter(pk=w.pk).update(status=WithdrawalStatus.PROCESSING)  # past approvals and payout
    withdrawal_payout_result(withdrawal_id=w.pk, paid=True, voucher="po_1", failure_code="")
    paid = OutboxEvent.objects.get(type=EventType.WITHDRAWAL_PAID)
    assert (paid.subject_id, paid.data["withdrawal"], paid.data["amount"], paid.data["voucher"]) == (
        str(w.pk),
        w.reference,
        "100.00",
        "po_1",
    )


def test_good_document_review_publishes_its_event() -> None:
    from kyc.models import Document, DocumentStatus
    from kyc.services.documents import document_review

    c = make_client()
    document = Document.objects.create(
        client=c, kind="proof_of_address", file=f"{c.pk}/a", original_name="a.pdf", content_type="application/pdf",
        size=1, sha256="0" * 64, status=DocumentStatus.PENDING, uploaded_by="test",
    )  # fmt: skip
    document_review(
        document_id=document.pk, reviewer=staff(Role.COMPLIANCE), accept=False, reason_code="blurred", note="unreadable"
    )
    event = OutboxEvent.objects.get(type=EventType.KYC_DOCUMENT_REVIEWED)
    assert (event.subject_type, event.subject_id) == ("kyc.document", str(document.pk))
    assert event.data == {
        "client": c.reference,
        "client_id": c.pk,
        "document_id": document.pk,
        "kind": "proof_of_address",
        "status": "rejected",
        "rejection_reason": "blurred",
    }


# --- delivery: signatures, rotation, retries, 410 -----------------------------------------------


def test_good_delivery_is_signed_in_the_standard_webhooks_format() -> None:
    with Receiver() as receiver:
        endpoint, secret = _endpoint(receiver.url)
        _submit(approvable_client())
        (delivery,) = _deliveries_of(endpoint)
        assert webhook_deliver(delivery_id=delivery.pk).result == "delivered"
    (got,) = receiver.snapshot()
    assert got.webhook_id == str(delivery.event_id)
    assert got.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(secret).verify(got.body, got.headers)  # raises unless the signature holds
    assert (payload["type"], payload["data"]["to"]) == ("client.status_changed", "pending_review")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert attempt.response_excerpt == '{"ok": true}'
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)


def test_good_rotation_signs_with_both_secrets_until_the_old_one_expires() -> None:
    with Receiver() as receiver:
        endpoint, old = _endpoint(receiver.url)
        new = webhook_secret_rotate(endpoint_id=endpoint.pk, actor=staff(Role.ADMIN))
        _submit(approvable_client())
        (delivery,) = _deliveries_of(endpoint)
        webhook_deliver(delivery_id=delivery.pk)
    (got,) = receiver.snapshot()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver holding either one verifies the request
        Webhook(secret).verify(got.body, got.headers)
    rotated = AuditEvent.objects.get(action=AuditAction.WEBHOOK_SECRET_ROTATED, subject_id=str(endpoint.pk))
    assert new not in json.dumps(rotated.after) and old not in json.dumps(rotated.after)
    with timezone.override("UTC"):
        from ops.services.webhooks import active_secrets

        assert active_secrets(endpoint, now=timezone.now() + timedelta(hours=25)) == [new]


def test_bad_answer_schedules_retries_with_backoff_then_gives_up() -> None:
    with Receiver(answer=500) as receiver, override_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=[5, 30, 120]):
        endpoint, _ = _endpoint(receiver.url)
        _submit(approvable_client())
        (delivery,) = _deliveries_of(endpoint)
        waits = []
        for _ in range(3):
            before = timezone.now()
            assert webhook_deliver(delivery_id=delivery.pk).result == "retry"
            delivery.refresh_from_db()
            waits.append((delivery.next_attempt_at - before).total_seconds())
            assert webhook_deliver(delivery_id=delivery.pk).result == "skipped"  # not due yet
            _due_now(delivery)
        assert 4 <= waits[0] <= 6.1 and 24 <= waits[1] <= 36.1 and 96 <= waits[2] <= 144.1, waits
        assert webhook_deliver(delivery_id=delivery.pk).result == "given_up"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.failures) == (DeliveryStatus.FAILED, 4, 4)
    assert len({r.webhook_id for r in receiver.snapshot()}) == 1 and len(receiver.snapshot()) == 4
    item = WorkItem.objects.get(queue__code="webhook_failure", subject_id=str(endpoint.pk))
    assert item.title == f"Webhook deliveries to {endpoint} given up after 4 attempts"
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_DELIVERY_GIVEN_UP).count() == 1


def test_default_schedule_retries_for_about_three_days() -> None:
    from django.conf import settings

    total = sum(settings.WEBHOOK_RETRY_SCHEDULE_SECONDS)
    assert 2.5 * 86400 <= total <= 3.5 * 86400
    assert settings.WEBHOOK_RETRY_SCHEDULE_SECONDS == sorted(settings.WEBHOOK_RETRY_SCHEDULE_SECONDS)


def test_bad_410_disables_the_endpoint_audited_with_a_work_item() -> None:
    with Receiver(answer=410) as receiver:
        endpoint, _ = _endpoint(receiver.url)
        _submit(approvable_client())
        _submit(approvable_client())
        first, second = _deliveries_of(endpoint)
        assert webhook_deliver(delivery_id=first.pk).result == "gone"
        assert webhook_deliver(delivery_id=second.pk).result == "skipped"  # nothing more is sent
    assert len(receiver.snapshot()) == 1
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, errors.WEBHOOK_GONE)
    disabled = AuditEvent.objects.get(action=AuditAction.WEBHOOK_ENDPOINT_DISABLED, subject_id=str(endpoint.pk))
    assert disabled.reason == errors.WEBHOOK_GONE
    item = WorkItem.objects.get(queue__code="webhook_failure", subject_id=str(endpoint.pk))
    assert item.title == f"Webhook endpoint {endpoint} disabled: the receiver answered 410 Gone"
    # events published while it is disabled are not fanned out to it
    _submit(approvable_client())
    assert len(_deliveries_of(endpoint)) == 2
    # enabled again: the waiting deliveries are due at once and the sweep queues them
    webhook_endpoint_enable(endpoint_id=endpoint.pk, actor=staff(Role.ADMIN), reason="receiver back")
    assert webhooks_sweep() == (0, 2)


def test_bad_unreachable_receiver_is_recorded_and_retried() -> None:
    with Receiver() as receiver:
        url = receiver.url
    endpoint, _ = _endpoint(url)  # nothing listens there any more
    _submit(approvable_client())
    (delivery,) = _deliveries_of(endpoint)
    assert webhook_deliver(delivery_id=delivery.pk).result == "retry"
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.status_code, attempt.error.split(":")[0]) == (None, "ConnectionRefusedError")


def test_good_replay_resends_the_same_id_and_is_audited() -> None:
    with Receiver() as receiver:
        endpoint, secret = _endpoint(receiver.url)
        _submit(approvable_client())
        (delivery,) = _deliveries_of(endpoint)
        webhook_deliver(delivery_id=delivery.pk)
        webhook_delivery_replay(delivery_id=delivery.pk, actor=staff(Role.ADMIN))
        assert webhook_deliver(delivery_id=delivery.pk).result == "delivered"
    first, again = receiver.snapshot()
    assert first.webhook_id == again.webhook_id and first.body == again.body
    Webhook(secret).verify(again.body, again.headers)
    assert AuditEvent.objects.get(action=AuditAction.WEBHOOK_DELIVERY_REPLAYED).after["event"] == first.webhook_id


def test_good_sweep_requeues_a_delivery_whose_worker_died() -> None:
    with Receiver() as receiver:
        endpoint, _ = _endpoint(receiver.url)
    _submit(approvable_client())
    (delivery,) = _deliveries_of(endpoint)
    assert webhooks_sweep() == (0, 0)  # just queued by the fan-out
    # a worker claimed it and died: its lease and the queueing are both old
    long_ago = timezone.now() - timedelta(minutes=10)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=long_ago, queued_at=long_ago, attempts=1)
    assert webhooks_sweep() == (0, 1)
    assert webhooks_sweep() == (0, 0)  # queued again just now


# --- the SSRF guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8000/hooks", "127.0.0.1"),
        ("https://10.1.2.3/hooks", "10.1.2.3"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/hooks", "::1"),
        ("http://localhost/hooks", None),
    ],
)
def test_bad_private_targets_are_refused_when_not_allowed(url: str, address: str | None) -> None:
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False):
        with pytest.raises(WebhookError) as refused:
            _endpoint(url)
        assert refused.value.field == "url"
        assert "a private, loopback or link-local address" in str(refused.value)
        if address:
            host = address
            assert str(refused.value) == errors.WEBHOOK_URL_PRIVATE.format(host=f"{host}", address=address)
    assert WebhookEndpoint.objects.count() == 0


def test_good_public_address_is_accepted_when_private_targets_are_not_allowed() -> None:
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False):
        endpoint, _ = _endpoint("https://93.184.215.14/hooks")
    assert endpoint.url == "https://93.184.215.14/hooks"


def test_bad_private_target_is_a_form_error_on_the_page() -> None:
    http = HttpClient()
    sign_in(http, staff(Role.ADMIN))
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False):
        response = http.post(
            "/staff/webhooks/", {"url": "http://10.0.0.5/hook", "event_types": [EventType.WITHDRAWAL_PAID]}
        )
    assert response.status_code == 400
    assert errors.WEBHOOK_URL_PRIVATE.format(host="10.0.0.5", address="10.0.0.5") in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_bad_delivery_to_a_target_no_longer_allowed_is_refused_at_send_time() -> None:
    with Receiver() as receiver:
        endpoint, _ = _endpoint(receiver.url)
        _submit(approvable_client())
        (delivery,) = _deliveries_of(endpoint)
        with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False):
            assert webhook_deliver(delivery_id=delivery.pk).result == "retry"
    assert receiver.snapshot() == []
    assert WebhookAttempt.objects.get(delivery=delivery).error.startswith("127.0.0.1 resolves to 127.0.0.1")


# --- the pages ----------------------------------------------------------------------------------


def test_good_page_creates_an_endpoint_shows_its_secret_once_and_audits() -> None:
    http = HttpClient()
    admin = staff(Role.ADMIN)
    sign_in(http, admin)
    response = http.post(
        "/staff/webhooks/",
        {"url": "http://127.0.0.1:9/hooks", "description": "CRM", "event_types": ALL_TYPES},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.redirect_chain == [(f"/staff/webhooks/{endpoint.pk}/", 302)]
    secret = endpoint.secrets.get().secret
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = http.get(f"/staff/webhooks/{endpoint.pk}/")
    assert again.status_code == 200 and secret not in again.content.decode()
    assert secret[:10] in again.content.decode()
    created = AuditEvent.objects.get(action=AuditAction.WEBHOOK_ENDPOINT_CREATED)
    assert (created.actor_label, created.subject_id) == (admin.username, str(endpoint.pk))
    assert created.after == {"url": endpoint.url, "description": "CRM", "event_types": ALL_TYPES, "enabled": True}


def test_good_page_changes_disables_and_enables_each_audited() -> None:
    http = HttpClient()
    sign_in(http, staff(Role.ADMIN))
    endpoint, _ = _endpoint("http://127.0.0.1:9/hooks")
    base = f"/staff/webhooks/{endpoint.pk}"
    changed = http.post(f"{base}/edit/", {"url": endpoint.url, "description": "CRM 2", "event_types": ALL_TYPES})
    assert changed.status_code == 302
    assert http.post(f"{base}/disable/", {"reason": ""}).status_code == 400
    assert http.post(f"{base}/disable/", {"reason": "receiver moving"}).status_code == 302
    assert http.post(f"{base}/disable/", {"reason": "again"}).status_code == 409
    assert http.post(f"{base}/enable/").status_code == 302
    actions = list(AuditEvent.objects.filter(subject_id=str(endpoint.pk)).order_by("id").values_list("action", "after"))
    assert actions[1:] == [
        (AuditAction.WEBHOOK_ENDPOINT_CHANGED, {"description": "CRM 2", "event_types": ALL_TYPES}),
        (AuditAction.WEBHOOK_ENDPOINT_DISABLED, {"enabled": False}),
        (AuditAction.WEBHOOK_ENDPOINT_ENABLED, {"enabled": True}),
    ]


def test_bad_page_is_refused_to_other_roles() -> None:
    endpoint, _ = _endpoint("http://127.0.0.1:9/hooks")
    http = HttpClient()
    sign_in(http, staff(Role.FINANCE))
    assert http.get("/staff/webhooks/").status_code == 403
    assert http.post(f"/staff/webhooks/{endpoint.pk}/rotate/").status_code == 403
    assert endpoint.secrets.count() == 1


# --- GET /api/v1/events -------------------------------------------------------------------------


def test_good_events_api_pages_with_a_cursor_and_filters_by_type_and_since() -> None:
    clients = [approvable_client() for _ in range(3)]
    for c in clients:
        _submit(c)
    http = HttpClient()
    sign_in(http, staff(Role.ADMIN))
    first = http.get("/api/v1/events", {"type": "client.status_changed", "limit": "2"})
    assert first.status_code == 200
    page = first.json()
    assert [e["data"]["client"] for e in page["results"]] == [c.reference for c in clients[:2]]
    assert page["results"][0]["subject"] == {"type": "accounts.client", "id": str(clients[0].pk)}
    rest = http.get(page["next"]).json()
    assert [e["data"]["client"] for e in rest["results"]] == [clients[2].reference]
    assert rest["next"] is None
    newest = OutboxEvent.objects.filter(type="client.status_changed").order_by("created_at").last()
    assert newest is not None
    since = http.get("/api/v1/events", {"since": newest.created_at.isoformat()}).json()
    assert str(newest.id) in [e["id"] for e in since["results"]]
    assert http.get("/api/v1/events", {"type": "nope"}).status_code == 400
    assert http.get("/api/v1/events", {"type": "deposit.succeeded"}).json()["results"] == []


def test_bad_events_api_is_refused_without_the_permission() -> None:
    http = HttpClient()
    sign_in(http, staff(Role.SUPPORT))
    response = http.get("/api/v1/events")
    assert (response.status_code, response["Content-Type"]) == (403, "application/problem+json")


# --- the simulated receiver ---------------------------------------------------------------------


def _sim_post(name: str, body: bytes, headers: dict[str, str]) -> Any:
    return HttpClient().post(
        f"/sim/webhooks/{name}/",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k.startswith("webhook-")},
    )


def test_good_simulated_receiver_verifies_with_the_reference_library_and_records() -> None:
    from ops.services.webhooks import webhook_body, webhook_signature

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    SimWebhookReceiver.objects.create(name="demo", secrets=secret)
    _submit(approvable_client())
    event = OutboxEvent.objects.get(type=EventType.CLIENT_STATUS_CHANGED)
    body = webhook_body(event)
    now = int(timezone.now().timestamp())
    headers = {
        "webhook-id": str(event.id),
        "webhook-timestamp": str(now),
        "webhook-signature": webhook_signature(secrets=[secret], msg_id=str(event.id), timestamp=now, body=body),
    }
    assert _sim_post("demo", body, headers).status_code == 200
    forged = _sim_post("demo", body.replace(b"pending_review", b"approved"), headers)
    assert forged.status_code == 400
    SimWebhookReceiver.objects.filter(name="demo").update(mode="fail")
    assert _sim_post("demo", body, headers).status_code == 500
    receipts = list(SimWebhookReceipt.objects.order_by("id").values_list("verified", "answered", "error"))
    assert receipts == [(True, 200, ""), (False, 400, "No matching signature found"), (True, 500, "")]
