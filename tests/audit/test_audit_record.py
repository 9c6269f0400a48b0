from __future__ import annotations

import pytest
from django.db import transaction

from audit import errors
from audit.actions import AuditAction
from audit.context import Actor, ActorKind, acting_as
from audit.errors import AuditError
from audit.models import AuditEvent, AuditSeal
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_good_event_records_actor_subject_and_change() -> None:
    with transaction.atomic():
        audit_record(
            action=AuditAction.STAFF_ROLE_GRANTED,
            subject=("ops.user", 7),
            before={"roles": []},
            after={"roles": ["finance"]},
            reason="joined finance",
        )
    stored = AuditEvent.objects.get()
    assert (stored.actor_kind, stored.actor_label) == ("system", "system:pytest")
    assert (stored.subject_type, stored.subject_id) == ("ops.user", "7")
    assert stored.after == {"roles": ["finance"]} and stored.reason == "joined finance"
    assert stored.txid > 0  # the writing transaction, set by the database: sealed once it has ended
    assert not AuditSeal.objects.filter(event_id=stored.pk).exists()


def test_bad_event_without_actor_is_refused() -> None:
    token_actor = None
    from audit import context

    token_actor = context._actor.set(None)
    try:
        with pytest.raises(AuditError, match=errors.MISSING_ACTOR), transaction.atomic():
            audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", 1))
    finally:
        context._actor.reset(token_actor)
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_bad_event_outside_a_transaction_is_refused() -> None:
    with pytest.raises(AuditError, match=errors.OUTSIDE_TRANSACTION):
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", 1))
    assert AuditEvent.objects.count() == 0


def test_bad_blank_actor_is_refused_before_and_by_the_database() -> None:
    from django.db import IntegrityError, connection

    with acting_as(Actor(ActorKind.SYSTEM, "job", "")), pytest.raises(AuditError), transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", 1))
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, subject_type,"
            " subject_id, before, after, reason, request_id) VALUES (now(), 'system', 'job', '', 'staff.login',"
            " 'ops.user', '1', '{}', '{}', '', '')"
        )
    assert AuditEvent.objects.count() == 0


def test_event_rolls_back_with_the_change_it_records() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", 1))
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == 0
