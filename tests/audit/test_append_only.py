"""The audit table and every history table are append-only in the database itself: the
application's own connection cannot update, delete or truncate them (the audit chain and history
deletes by its privileges, history updates by the triggers), and the owner role, which could
grant itself anything, still meets the triggers."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from audit.actions import AuditAction
from audit.history import HistoryActorMixin
from audit.models import AuditEvent
from audit.services import audit_record, audit_seal
from ops.services.staff import staff_create
from tests.conftest import owner_cursor

pytestmark = [pytest.mark.django_db, pytest.mark.serial]


def _event() -> int:
    with transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", 1))
    return AuditEvent.objects.latest("id").pk


def _refused(sql: str, params: list[Any] | None = None) -> str:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
    return str(info.value)


def test_bad_update_of_audit_event_is_rejected() -> None:
    event_id = _event()
    denied = "permission denied for table audit_auditevent"
    assert denied in _refused("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [event_id])
    audit_seal()
    assert denied in _refused("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [event_id])


def test_bad_change_to_a_seal_is_rejected() -> None:
    event_id = _event()
    audit_seal()
    assert "permission denied for table audit_auditseal" in _refused(
        "UPDATE audit_auditseal SET hash = repeat('b', 64) WHERE event_id = %s", [event_id]
    )
    assert "permission denied for table audit_auditseal" in _refused(
        "DELETE FROM audit_auditseal WHERE event_id = %s", [event_id]
    )
    assert "permission denied for table audit_auditsealbatch" in _refused("DELETE FROM audit_auditsealbatch")


def test_bad_delete_of_audit_event_is_rejected() -> None:
    event_id = _event()
    assert "permission denied for table audit_auditevent" in _refused(
        "DELETE FROM audit_auditevent WHERE id = %s", [event_id]
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event_id).delete()


def test_bad_truncate_of_audit_table_is_rejected() -> None:
    _event()
    assert "permission denied for table audit_auditevent" in _refused("TRUNCATE audit_auditevent CASCADE")


@pytest.mark.django_db(transaction=True)
def test_bad_change_to_history_rows_is_rejected() -> None:
    user = staff_create(username="hist", email="h@example.test", password=None, roles=[], reason="test")
    table = user.history.model._meta.db_table
    assert f"permission denied for table {table}" in _refused(f"UPDATE {table} SET email = 'x'")
    assert f"permission denied for table {table}" in _refused(f"DELETE FROM {table}")
    assert f"permission denied for table {table}" in _refused(f"TRUNCATE {table}")
    assert "permission denied for table audit_auditsealbatch" in _refused("TRUNCATE audit_auditsealbatch")


def _refused_to_owner(sql: str) -> str:
    with pytest.raises(psycopg.Error) as info, owner_cursor() as cursor:
        cursor.execute(sql)
    return str(info.value)


@pytest.mark.django_db(transaction=True)
def test_bad_owner_role_still_meets_the_triggers() -> None:
    user = staff_create(username="hist", email="h@example.test", password=None, roles=[], reason="test")
    _event()
    audit_seal()
    for table in ("audit_auditevent", "audit_auditseal", "audit_auditsealbatch", user.history.model._meta.db_table):
        assert "Cannot update" in _refused_to_owner(f"UPDATE {table} SET {_a_column(table)} = {_a_column(table)}")
        assert "Cannot delete" in _refused_to_owner(f"DELETE FROM {table}")
        assert "cannot truncate" in _refused_to_owner(f"TRUNCATE {table} CASCADE")


def _a_column(table: str) -> str:
    return {"audit_auditseal": "hash", "audit_auditsealbatch": "head_hash"}.get(table, "id")


def test_every_history_table_has_the_append_only_triggers() -> None:
    history_models = [m for m in apps.get_models() if issubclass(m, HistoryActorMixin)]
    assert history_models, "expected at least one history-tracked model"
    untracked = [
        m._meta.label
        for m in apps.get_models()
        if hasattr(m, "history") and not issubclass(m.history.model, HistoryActorMixin)
    ]
    assert untracked == [], "domain models must use audit.history.AuditedHistoricalRecords"
    with connection.cursor() as cursor:
        for model in history_models:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [model._meta.db_table],
            )
            names = " ".join(r[0] for r in cursor.fetchall())
            for op in ("update", "delete", "truncate"):
                assert f"append_only_{op}" in names, f"{model._meta.db_table} lacks append_only_{op}"
