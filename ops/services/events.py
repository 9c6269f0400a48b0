"""The outbox: what other systems must hear about, written in the transaction of the change.

``event_publish`` is called by a service next to its ``audit_record``: the event commits or rolls
back with the change (architecture invariant 5), and so does its fan-out, one delivery per webhook
endpoint subscribed to its type (``ops.services.webhooks``: two statements, the endpoints read and
the deliveries inserted). After the commit a task is queued for each delivery; should it never run
(the process died between COMMIT and the queueing, the broker was down, a worker died), beat's sweep
finds the delivery and queues it again.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.services import subject_ref
from ops.events import EventType, InternalEventType
from ops.models import OutboxEvent


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids of events
    published later sort later, and the outbox's index grows at its end."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= rand & (2**62 - 1)  # rand_b
    return uuid.UUID(int=value)


@dataclass(frozen=True)
class Event:
    """One event to publish (see ``event_publish_many``)."""

    type: EventType | InternalEventType
    subject: models.Model | tuple[str, Any]
    data: dict[str, Any]


def event_publish(
    *, type: EventType | InternalEventType, subject: models.Model | tuple[str, Any], data: dict[str, Any]
) -> OutboxEvent:
    """Write one event to the outbox, inside the caller's transaction (call it where the change
    writes its audit event). ``data`` is the event's payload as receivers get it under ``data``:
    references and states, JSON-serialisable (Decimals and dates become strings)."""
    return event_publish_many([Event(type, subject, data)])[0]


def _type_value(value: str) -> str:
    if value in InternalEventType.values:
        return InternalEventType(value).value
    return EventType(value).value


def event_publish_many(events: Sequence[Event]) -> list[OutboxEvent]:
    """Write several events in one INSERT (a batch of deposits credited together)."""
    if not events:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_publish: call it inside the transaction that makes the change")
    from ops.services.webhooks import deliveries_create, deliveries_queue

    now = timezone.now()
    rows = []
    for event in events:
        subject_type, subject_id = subject_ref(event.subject)
        rows.append(
            OutboxEvent(
                id=uuid7(),
                type=_type_value(event.type),
                subject_type=subject_type,
                subject_id=subject_id,
                data=event.data,
                created_at=now,
                fanned_out_at=now,
            )
        )
    OutboxEvent.objects.bulk_create(rows)
    # Internal events have their own consumer (e.g. the CRM push); no webhook endpoint gets them.
    delivery_ids = deliveries_create([r for r in rows if r.type in EventType.values], now=now)
    if delivery_ids:
        transaction.on_commit(lambda: deliveries_queue(delivery_ids))
    return rows
