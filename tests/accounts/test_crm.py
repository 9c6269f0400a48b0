"""CRM sync with the simulated CRM: the allow-list is all that leaves, a push survives the CRM's
refusals, notifications are stored before they are applied (once, newest wins), communication
records land in the interaction log, and the nightly comparison opens one item per disagreement."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.crm import CrmError, get_crm
from accounts.models import (
    CrmCommunication,
    CrmInboundEvent,
    CrmInboundStatus,
    CrmLink,
    CrmMismatch,
    CrmPush,
    CrmPushStatus,
)
from accounts.services.clients import client_transition
from accounts.services.crm import crm_push_deliver, crm_push_record, crm_pushes_resend
from accounts.services.crm_compare import crm_compare
from accounts.services.crm_inbound import crm_inbound_drain, crm_poll
from audit.models import SecurityEvent
from ops.events import InternalEventType
from ops.models import Interaction, OutboxEvent, WebhookDelivery, WorkItem, WorkItemStatus
from ops.roles import Role
from sim import crm as simcrm
from sim.crm import SimulatedCrm
from sim.models import SimCrmCommunication, SimCrmContact, SimCrmNotification, SimCrmUpsert
from tests.factories import approved_client, card_deposit, staff
from tests.factories import client as make_client
from tests.personas import sign_in

pytestmark = pytest.mark.django_db
URL = "/webhooks/crm/"


@pytest.fixture(autouse=True)
def _apply_inline(settings: Any) -> None:
    """These tests read the outcome in the webhook's answer (the queued default: test_good_queued_...)."""
    settings.WEBHOOK_APPLY = "inline"


def _in_crm(c: Any) -> SimCrmContact:
    """The client's pending pushes delivered: its contact in the simulated CRM."""
    assert crm_push_deliver(client_id=c.pk) == "sent"
    return SimCrmContact.objects.get(external_id=c.reference)


def _post(http: HttpClient, payload: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    body, signature = simcrm.signed(payload, **kwargs)
    response = http.post(URL, data=body, content_type="application/json", HTTP_SIMCRM_SIGNATURE=signature)
    return response.status_code, response.json()


# --- push: the allow-list, durability -------------------------------------------------------------


def test_good_the_push_is_exactly_the_allow_listed_fields() -> None:
    c = approved_client(provision=False, first_name="Grace", last_name="Hopper", address_line="1 Navy Yard")
    card_deposit(c, "250.00")
    with transaction.atomic():
        crm_push_record(client=c, reason="test")
    contact = _in_crm(c)
    expected = {
        "reference": c.reference,
        "kind": "individual",
        "first_name": "Grace",
        "last_name": "Hopper",
        "legal_name": "",
        "email": c.email,
        "country": "GB",
        "status": "approved",
        "kyc_status": "verified",
        "risk_level": "low",
        "balances": {"EUR": "250.00"},
    }
    received = SimCrmUpsert.objects.filter(contact=contact).order_by("-id").first()
    assert received is not None and received.received == expected
    assert contact.fields == expected
    # what never leaves: date of birth, nationality, address, phone, segment, tags, documents...
    sent = json.dumps(list(SimCrmUpsert.objects.values_list("received", flat=True)))
    for secret in ("1985-12-10", "1 Navy Yard", c.phone, "date_of_birth", "phone", "nationality"):
        assert secret not in sent


def test_good_a_narrower_allow_list_sends_less(settings: Any) -> None:
    settings.CRM_PUSH_FIELDS = ["reference", "status"]
    c = make_client()
    contact = _in_crm(c)
    assert contact.fields == {"reference": c.reference, "status": "registered"}


def test_bad_an_allow_list_naming_an_unknown_field_stops_the_start(settings: Any) -> None:
    from accounts.checks import crm_push_fields_check

    assert crm_push_fields_check(None) == []
    settings.CRM_PUSH_FIELDS = ["reference", "date_of_birth"]
    [problem] = crm_push_fields_check(None)
    assert (problem.id, "date_of_birth" in problem.msg) == ("accounts.E001", True)
    with pytest.raises(ImproperlyConfigured, match="date_of_birth"):
        make_client()  # and should it run all the same, nothing is sent (nor registered)


def test_good_status_and_risk_changes_record_pushes_in_their_transaction() -> None:
    from kyc.services.risk import risk_assess

    c = make_client(tags=["pep"])
    client_transition(client_id=c.pk, name="submit_for_review", actor=None)
    risk_assess(client_id=c.pk)
    pushes = list(CrmPush.objects.filter(client=c).order_by("id").values_list("reason", "event__data__risk_level"))
    assert pushes == [("registered", "low"), ("status pending_review", "low"), ("risk high", "high")]
    assert CrmLink.objects.get(client=c).crm_id is None  # nothing left before the commit and the task


def test_good_a_push_is_an_outbox_event_that_commits_or_rolls_back_with_its_change() -> None:
    c = make_client()
    push = CrmPush.objects.select_related("event").get(client=c)
    assert (push.event.type, push.event.subject_type, push.event.subject_id) == (
        InternalEventType.CRM_CONTACT_PUSH,
        "accounts.client",
        str(c.pk),
    )
    assert push.event.data["reference"] == c.reference and "date_of_birth" not in push.event.data
    before = OutboxEvent.objects.count()
    with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
        client_transition(client_id=c.pk, name="submit_for_review", actor=None)
        assert OutboxEvent.objects.count() > before
        raise RuntimeError("rolled back")
    assert (OutboxEvent.objects.count(), CrmPush.objects.filter(client=c).count()) == (before, 1)


def test_bad_a_crm_push_reaches_no_webhook_endpoint_and_no_events_reader() -> None:
    from ops.errors import WEBHOOK_UNKNOWN_EVENT_TYPE
    from ops.selectors import event_list
    from ops.services.webhooks import WebhookError, webhook_endpoint_create

    with pytest.raises(WebhookError) as refused:
        webhook_endpoint_create(
            url="http://127.0.0.1:9/hooks",
            description="spy",
            event_types=["crm.contact_push"],
            actor=staff(Role.ADMIN),
        )
    assert str(refused.value) == WEBHOOK_UNKNOWN_EVENT_TYPE.format(type="crm.contact_push")
    c = make_client()
    assert OutboxEvent.objects.filter(type=InternalEventType.CRM_CONTACT_PUSH, subject_id=str(c.pk)).count() == 1
    assert not event_list().filter(type=InternalEventType.CRM_CONTACT_PUSH).exists()
    assert not WebhookDelivery.objects.filter(event__type=InternalEventType.CRM_CONTACT_PUSH).exists()


def test_good_pseudonymisation_empties_what_the_outbox_holds_for_the_crm() -> None:
    from accounts.services.crm import crm_pseudonymise

    c = make_client()
    assert crm_pseudonymise(c)["crm_pushes_emptied"] == 1
    datas = list(
        OutboxEvent.objects.filter(type=InternalEventType.CRM_CONTACT_PUSH, subject_id=str(c.pk))
        .order_by("created_at", "id")
        .values_list("data", flat=True)
    )
    assert datas[0] == {} and len(datas) == 2  # the old push emptied; the pseudonymised record pushed


def test_good_push_survives_refusals_and_is_delivered_once() -> None:
    c = make_client()
    SimulatedCrm.inject_fault("upsert_contact", times=2)
    push = CrmPush.objects.get(client=c)
    for attempt in (1, 2):
        with pytest.raises(CrmError, match="injected fault"):
            crm_push_deliver(client_id=c.pk)
        push.refresh_from_db()
        assert (push.status, push.attempts) == (CrmPushStatus.PENDING, attempt)
        assert "injected fault" in push.last_error
    assert not SimCrmContact.objects.exists()
    assert crm_pushes_resend(older_than=timedelta(0)) == {"sent": 1, "failed": 0}  # beat's resend
    push.refresh_from_db()
    assert (push.status, push.attempts) == (CrmPushStatus.SENT, 3)
    assert SimCrmUpsert.objects.filter(idempotency_key=str(push.key)).count() == 1
    assert crm_push_deliver(client_id=c.pk) == "nothing to push"
    link = CrmLink.objects.get(client=c)
    assert link.crm_id == SimCrmContact.objects.get().crm_id and link.last_pushed == push.event.data


def test_good_the_newest_pending_push_supersedes_the_older_ones() -> None:
    c = make_client()
    client_transition(client_id=c.pk, name="submit_for_review", actor=None)
    assert crm_push_deliver(client_id=c.pk) == "sent"
    statuses = list(CrmPush.objects.filter(client=c).order_by("id").values_list("status", flat=True))
    assert statuses == [CrmPushStatus.SUPERSEDED, CrmPushStatus.SENT]
    assert SimCrmUpsert.objects.count() == 1
    assert SimCrmContact.objects.get().fields["status"] == "pending_review"


def test_good_a_repeated_key_applies_nothing_twice() -> None:
    crm = get_crm()
    first = crm.upsert_contact(external_id="C-1", fields={"status": "approved"}, idempotency_key="k1")
    again = crm.upsert_contact(external_id="C-1", fields={"status": "closed"}, idempotency_key="k1")
    assert first == again and SimCrmContact.objects.get().fields == {"status": "approved"}


def test_bad_a_push_refused_for_a_day_is_given_up_and_a_person_told() -> None:
    c = make_client()
    push = CrmPush.objects.get(client=c)
    push.created_at = timezone.now() - timedelta(days=1, minutes=1)
    push.save(update_fields=["created_at"])
    SimulatedCrm.inject_fault("upsert_contact")
    with pytest.raises(CrmError):
        crm_push_deliver(client_id=c.pk)
    push.refresh_from_db()
    assert push.status == CrmPushStatus.FAILED
    item = WorkItem.objects.get(queue__code="crm_mismatch", subject_id=str(push.pk))
    assert c.reference in item.title and "injected fault" in item.details["error"]


# --- pull: the webhook, stored first, once, newest wins ---------------------------------------


def test_good_a_stage_change_in_the_crm_arrives_by_webhook() -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="qualified", tags=["vip", "webinar"])
    assert note is not None
    status, body = _post(HttpClient(), note.payload)
    assert (status, body["duplicate"], body["status"]) == (200, False, "processed")
    link = CrmLink.objects.get(client=c)
    assert (link.sales_stage, link.tags) == ("qualified", ["vip", "webinar"])
    assert link.last_pulled_at is not None
    stored = CrmInboundEvent.objects.get(event_id=note.event_id)
    assert (stored.status, stored.crm_id, stored.payload) == (CrmInboundStatus.PROCESSED, contact.crm_id, note.payload)
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(action="crm.contact_synced", subject_id=str(c.pk))
    assert event.actor_label == "system:webhook:crm"
    assert event.after == {"sales_stage": "qualified", "tags": ["vip", "webinar"]}


def test_good_the_crm_cannot_change_what_the_back_office_owns() -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="won", fields={"status": "approved"})
    assert note is not None
    assert _post(HttpClient(), note.payload)[0] == 200
    c.refresh_from_db()
    assert c.status == "registered"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body, sig: (body, sig.replace("v1=", "v1=00")), "does not match"),
        (lambda body, sig: (body + b" ", sig), "does not match"),
        (lambda body, sig: (body, ""), "missing"),
        (lambda body, sig: simcrm.signed(json.loads(body), timestamp=int(time.time()) - 301), "tolerance"),
        (lambda body, sig: simcrm.signed(json.loads(body), secret="whsec_someone_else"), "does not match"),
    ],
)
def test_bad_signature_is_a_400_and_nothing_is_stored_or_applied(mutate: Any, message: str) -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="won")
    assert note is not None
    body, signature = mutate(*simcrm.signed(note.payload))
    response = HttpClient().post(URL, data=body, content_type="application/json", HTTP_SIMCRM_SIGNATURE=signature)
    assert response.status_code == 400 and message in response.json()["error"]
    assert CrmInboundEvent.objects.count() == 0
    assert CrmLink.objects.get(client=c).sales_stage == ""
    logged = SecurityEvent.objects.get()
    assert (logged.kind, logged.status, logged.path) == ("webhook_rejected", 400, URL)


def test_bad_a_signed_but_malformed_notification_is_a_400_and_nothing_is_stored() -> None:
    status, body = _post(HttpClient(), {"id": "evt_1", "type": "contact.updated", "data": {"contact": {"tags": 3}}})
    assert status == 400 and body["error"].startswith("The CRM notification is malformed")
    assert CrmInboundEvent.objects.count() == 0


def test_good_a_repeated_delivery_has_one_effect() -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="contacted", note="Called: wants a demo account")
    assert note is not None
    http = HttpClient()
    assert _post(http, note.payload)[1]["duplicate"] is False
    status, body = _post(http, note.payload)
    assert (status, body["duplicate"]) == (200, True)
    assert CrmInboundEvent.objects.get(event_id=note.event_id).deliveries == 2
    assert Interaction.objects.filter(channel="crm").count() == 1
    assert CrmCommunication.objects.count() == 1


def test_good_an_older_notification_arriving_late_changes_nothing() -> None:
    c = make_client()
    contact = _in_crm(c)
    older = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="contacted", tags=["cold"])
    newer = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="qualified", tags=["warm"])
    assert older is not None and newer is not None
    http = HttpClient()
    assert _post(http, newer.payload)[1]["status"] == "processed"
    status, body = _post(http, older.payload)
    assert (status, body["status"]) == (200, "ignored")
    link = CrmLink.objects.get(client=c)
    assert (link.sales_stage, link.tags) == ("qualified", ["warm"])


def test_good_queued_notifications_are_stored_then_drained(settings: Any) -> None:
    settings.WEBHOOK_APPLY = "queued"
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="negotiation")
    assert note is not None
    status, body = _post(HttpClient(), note.payload)
    assert (status, body["status"]) == (200, "received")  # stored and answered; not applied yet
    assert CrmLink.objects.get(client=c).sales_stage == ""
    assert crm_inbound_drain(older_than=timedelta(0)) == 1  # beat's drain (or the task) applies it
    assert CrmLink.objects.get(client=c).sales_stage == "negotiation"
    assert CrmInboundEvent.objects.get().status == CrmInboundStatus.PROCESSED


def test_good_communication_records_are_in_the_interaction_log_and_follow_revisions() -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(
        crm_id=contact.crm_id, note="Asked about swap-free accounts", note_kind="call", author="sally"
    )
    assert note is not None
    _post(HttpClient(), note.payload)
    record = SimCrmCommunication.objects.get()
    logged = CrmCommunication.objects.get(external_id=record.record_id)
    entry = Interaction.objects.get(pk=logged.interaction_id)
    assert (entry.channel, entry.status, entry.title, entry.body, entry.actor_label) == (
        "crm", "recorded", "Call: Asked about swap-free accounts", "Asked about swap-free accounts", "CRM: sally"
    )  # fmt: skip
    assert (entry.subject_id, entry.created_at) == (str(c.pk), record.occurred_at)
    record.body = "Asked about swap-free accounts; sent the Islamic account terms"
    record.updated_at = timezone.now()
    record.save()
    revised = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="qualified")
    assert revised is not None
    _post(HttpClient(), revised.payload)
    entry.refresh_from_db()
    assert entry.body == "Asked about swap-free accounts; sent the Islamic account terms"
    assert Interaction.objects.filter(channel="crm").count() == 1


def test_good_the_poll_catches_a_change_whose_webhook_was_lost() -> None:
    c = make_client()
    contact = _in_crm(c)
    simcrm.contact_change(crm_id=contact.crm_id, sales_stage="won", tags=["funded"], notify=False)
    assert crm_poll() == 1
    assert CrmLink.objects.get(client=c).sales_stage == "won"
    assert crm_poll() == 0  # nothing newer: applying again changes nothing


def test_good_client_360_shows_the_crm_panel_and_the_interaction_log(client: HttpClient) -> None:
    c = make_client()
    contact = _in_crm(c)
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="qualified", tags=["vip"], note="Met at expo")
    assert note is not None
    _post(HttpClient(), note.payload)
    sign_in(client, staff(Role.SUPPORT))
    page = client.get(f"/clients/{c.pk}/").content.decode()
    assert 'data-testid="crm-stage">qualified<' in page and ">vip<" in page
    assert f'href="/clients/{c.pk}/interactions/"' in page
    log = client.get(f"/clients/{c.pk}/interactions/")
    assert log.status_code == 200 and "Note: Met at expo" in log.content.decode()


# --- the nightly comparison -----------------------------------------------------------------------


def test_good_nightly_comparison_opens_one_item_per_disagreement_and_pushes_again() -> None:
    c = make_client()
    contact = _in_crm(c)
    simcrm.contact_change(
        crm_id=contact.crm_id, fields={"status": "approved", "risk_level": "high"}, notify=False
    )  # a CRM user overwrote what the back office owns
    assert crm_compare() == {"compared": 1, "disagreements": 2, "unreachable": 0}
    items = WorkItem.objects.filter(queue__code="crm_mismatch").order_by("title")
    assert [(i.details["field"], i.details["back_office"], i.details["crm"]) for i in items] == [
        ("risk_level", "low", "high"),
        ("status", "registered", "approved"),
    ]
    assert {i.subject_id for i in items} == {str(m.pk) for m in CrmMismatch.objects.filter(closed_at=None)}
    assert CrmPush.objects.filter(client=c, status=CrmPushStatus.PENDING, reason="nightly comparison").count() == 1

    assert crm_compare()["disagreements"] == 2  # still disagreeing: no second item for either
    assert WorkItem.objects.filter(queue__code="crm_mismatch").count() == 2

    crm_push_deliver(client_id=c.pk)  # the re-push lands: the CRM agrees again
    assert crm_compare()["disagreements"] == 0
    assert set(WorkItem.objects.filter(queue__code="crm_mismatch").values_list("status", flat=True)) == {
        WorkItemStatus.RESOLVED
    }
    assert CrmMismatch.objects.filter(closed_at=None).count() == 0


def test_good_balances_moving_since_the_push_are_refreshed_not_a_disagreement() -> None:
    c = approved_client(provision=False)
    _in_crm(c)
    card_deposit(c, "80.00")  # not pushed on each posting
    assert crm_compare()["disagreements"] == 0
    push = CrmPush.objects.get(client=c, status=CrmPushStatus.PENDING)
    assert (push.reason, push.event.data["balances"]) == ("nightly balance refresh", {"EUR": "80.00"})
    assert not WorkItem.objects.filter(queue__code="crm_mismatch").exists()


def test_good_nightly_comparison_counts_an_unreachable_crm_and_opens_nothing() -> None:
    c = make_client()
    _in_crm(c)
    SimulatedCrm.inject_fault("get_contact")
    assert crm_compare() == {"compared": 0, "disagreements": 0, "unreachable": 1}
    assert not WorkItem.objects.filter(queue__code="crm_mismatch").exists()


def test_good_the_sim_crm_page_changes_a_contact_and_queues_its_notification(client: HttpClient) -> None:
    c = make_client()
    contact = _in_crm(c)
    sign_in(client, staff(Role.SUPPORT))
    assert client.get("/sim/crm/").status_code == 200
    response = client.post(
        f"/sim/crm/{contact.crm_id}/",
        {"sales_stage": "won", "tags": "vip, funded", "note_kind": "call", "note": "Closed the deal"},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.sales_stage, contact.tags) == ("won", ["vip", "funded"])
    notification = SimCrmNotification.objects.get(contact=contact)
    assert notification.payload["data"]["contact"]["sales_stage"] == "won"
    bad = client.post(f"/sim/crm/{contact.crm_id}/", {"sales_stage": "nonsense", "note_kind": "call"})
    assert bad.status_code == 400
