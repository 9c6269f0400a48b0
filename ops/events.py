"""The types of event written to the outbox (``ops.services.events``).

``EventType``: what other systems can subscribe to (outbound webhooks, ``GET /api/v1/events``).
Adding one is one line here plus one ``event_publish(type=EventType.X, ...)`` call in the service
that makes the change, where it writes its audit event (the value is stored as text, not choices:
no migration).

``InternalEventType``: what a consumer inside the back office delivers from the outbox to one
outside system (the CRM push, ``accounts.services.crm``). Its data may carry personal data the
allow-list of that system lets through, so it is never offered to webhook endpoints nor listed by
the events API.
"""

from django.db import models


class EventType(models.TextChoices):
    CLIENT_STATUS_CHANGED = "client.status_changed", "A client's status changed"
    KYC_DOCUMENT_REVIEWED = "kyc.document_reviewed", "A KYC document was accepted or rejected"
    KYC_IDENTITY_CHECK_COMPLETED = "kyc.identity_check_completed", "An identity verification result was received"
    DEPOSIT_SUCCEEDED = "deposit.succeeded", "A deposit was credited"
    WITHDRAWAL_PAID = "withdrawal.paid", "A withdrawal was paid out"
    IB_COMMISSION_POSTED = "ib.commission_posted", "A partner's commission was posted"
    CHARGEBACK_OPENED = "chargeback.opened", "A card payment was disputed: a chargeback case opened"
    CHARGEBACK_CLOSED = "chargeback.closed", "A chargeback case was won or lost"


class InternalEventType(models.TextChoices):
    CRM_CONTACT_PUSH = "crm.contact_push", "A client's CRM fields to push to the CRM"
