"""SMS: a templated message sent through the provider protocol (the simulator here), its delivery
result and the client's reply coming back by the provider's signed callback, stored before they
are processed, once each, and shown in the client's interaction log."""

from __future__ import annotations

import json

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from accounts.models import Client
from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.models import Interaction, InteractionChannel, InteractionStatus, SmsInboundEvent, SmsInboundStatus
from ops.roles import Role
from ops.services.interactions import client_notify, interaction_send
from sim import sms as simsms
from sim.models import SimSmsCallback, SimSmsMessage
from tests.factories import client as make_client
from tests.factories import staff
from tests.personas import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_inline")]


@pytest.fixture
def _inline() -> object:
    with override_settings(WEBHOOK_APPLY="inline"):
        yield


def _sms(c: Client) -> Interaction:
    message = client_notify(
        subject=c,
        recipient=c.phone,
        template="kyc.documents_reminder",
        context={"name": c.display_name, "reference": c.reference},
        channel=InteractionChannel.SMS,
    )
    interaction_send(interaction_id=message.pk)  # what the worker does after commit
    message.refresh_from_db()
    return message


def _post(http: HttpClient, callback: SimSmsCallback, *, secret: str | None = None) -> tuple[int, dict[str, object]]:
    body, signature = simsms.signed(callback.payload, secret=secret)
    response = http.post(
        "/webhooks/sms/", body, content_type="application/json", headers={"SimSMS-Signature": signature}
    )
    return response.status_code, json.loads(response.content)


def test_good_an_sms_goes_through_the_provider_with_its_interaction_as_idempotency_key() -> None:
    c = make_client()
    message = _sms(c)
    sent = SimSmsMessage.objects.get(reference=f"interaction-{message.pk}")
    assert (message.status, message.provider_message_id) == (InteractionStatus.SENT, sent.message_id)
    assert (sent.to, sent.body) == (c.phone, message.body)
    assert interaction_send(interaction_id=message.pk) == InteractionStatus.SENT  # again: nothing sent again
    assert SimSmsMessage.objects.count() == 1


def test_good_delivery_result_is_stored_then_applied_once(client: HttpClient) -> None:
    c = make_client()
    message = _sms(c)
    callback = SimSmsCallback.objects.get(message__reference=f"interaction-{message.pk}", kind="delivery")
    assert _post(client, callback) == (200, {"received": True, "duplicate": False, "status": "processed"})
    message.refresh_from_db()
    assert message.status == InteractionStatus.DELIVERED and message.delivered_at is not None
    # the provider sends it again: counted, not applied again
    assert _post(client, callback) == (200, {"received": True, "duplicate": True, "status": "processed"})
    stored = SmsInboundEvent.objects.get(event_id=callback.event_id)
    assert (stored.deliveries, stored.interaction) == (2, message)


def test_good_a_failed_delivery_is_in_the_log_with_the_reason(client: HttpClient) -> None:
    c = make_client(phone="+447911120000")  # not in service at the simulated provider
    message = _sms(c)
    callback = SimSmsCallback.objects.get(message__reference=f"interaction-{message.pk}", kind="delivery")
    assert _post(client, callback)[0] == 200
    message.refresh_from_db()
    assert (message.status, message.error) == (InteractionStatus.FAILED, simsms.UNREACHABLE_REASON)


def test_good_a_reply_is_logged_against_the_message_it_answers(client: HttpClient) -> None:
    c = make_client()
    message = _sms(c)
    reply_callback = simsms.client_reply(message_id=message.provider_message_id, body="Sending it tonight, thanks")
    assert _post(client, reply_callback)[0] == 200
    reply = Interaction.objects.get(in_reply_to=message)
    assert (reply.channel, reply.status, reply.body, reply.recipient, reply.subject) == (
        InteractionChannel.SMS, InteractionStatus.RECEIVED, "Sending it tonight, thanks", c.phone, c
    )  # fmt: skip
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_REPLIED, subject_id=str(c.pk)).count() == 1
    # the interaction log on the client 360: the message, its delivery result, the reply
    delivery = SimSmsCallback.objects.get(message__reference=f"interaction-{message.pk}", kind="delivery")
    _post(client, delivery)
    page = sign_in(client, staff(Role.SUPPORT)).get(f"/clients/{c.pk}/interactions/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Sending it tonight, thanks" in text and "Received from the client" in text and "Delivered" in text
    assert "In reply to the message of" in text


def test_good_a_reply_ends_the_reminders_and_a_person_is_asked_to_read_it(client: HttpClient) -> None:
    from ops.models import EnrollmentStatus, FollowUpEnrollment, WorkItem

    c = make_client()
    enrollment = FollowUpEnrollment.objects.get(subject_id=str(c.pk), sequence__code="documents_requested")
    assert enrollment.status == EnrollmentStatus.ACTIVE
    message = _sms(c)
    assert _post(client, simsms.client_reply(message_id=message.provider_message_id, body="Which documents?"))[0] == 200
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.next_due_at) == (EnrollmentStatus.STOPPED, None)
    assert "the client replied" in enrollment.ended_reason
    item = WorkItem.objects.get(queue__code="client_follow_up", subject_id=str(c.pk))
    assert (item.title, item.details["reply"]) == (f"{c} replied by SMS", "Which documents?")


def test_bad_signature_is_a_400_and_nothing_is_stored(client: HttpClient) -> None:
    c = make_client()
    message = _sms(c)
    callback = SimSmsCallback.objects.get(message__reference=f"interaction-{message.pk}", kind="delivery")
    status, answer = _post(client, callback, secret="whsec_not_the_providers_secret")
    assert (status, answer) == (400, {"error": "The signature does not match the payload."})
    missing = client.post("/webhooks/sms/", json.dumps(callback.payload), content_type="application/json")
    assert missing.status_code == 400
    assert SmsInboundEvent.objects.count() == 0
    message.refresh_from_db()
    assert message.status == InteractionStatus.SENT


def test_bad_callback_for_an_unknown_message_is_stored_and_ignored(client: HttpClient) -> None:
    unknown = SimSmsMessage.objects.create(
        message_id="SMunknown", reference="elsewhere-1", to="+447911000000", body="x"
    )
    callback = simsms.delivery_report(message=unknown, delivered=True)
    status, answer = _post(client, callback)
    assert (status, answer["status"]) == (200, SmsInboundStatus.IGNORED)
    assert SmsInboundEvent.objects.get(event_id=callback.event_id).result.startswith("No SMS of ours matches")
