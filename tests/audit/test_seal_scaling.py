"""The sealer and the seal watch run every few seconds for the life of the system: their work must
follow the number of new events, not the length of the chain. Both check each waiting event
against the seal table's primary key; neither may join the whole seal table (an anti-join, which
the planner hashes from all of it once its estimates lag behind a growing chain)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.actions import AuditAction
from audit.selectors import _waiting, audit_seal_lag
from audit.services import _TAKE_SQL, audit_record, audit_seal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serial]  # real commits: each transaction its own id


def _chain_of(n: int) -> None:
    """``n`` sealed events (inserted in one statement, as a long history would be), then 3 new ones
    waiting, with fresh statistics."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, subject_type,"
            " subject_id, before, after, reason, request_id) SELECT now(), 'system', 'history', 'system:history',"
            " 'staff.login', 'ops.user', g::text, '{}', '{}', '', '' FROM generate_series(1, %s) g",
            [n],
        )
    assert audit_seal() == n
    for i in range(3):
        with transaction.atomic():
            audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", i), after={"n": i})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
        cursor.execute("ANALYZE audit_auditseal")


def _plan(sql: str, params: list[int]) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_good_sealer_probes_the_seal_key_per_new_event_and_never_joins_the_seal_table() -> None:
    _chain_of(5000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT horizon FROM audit_auditsealbatch ORDER BY last_seq DESC LIMIT 1")
        floor = cursor.fetchone()[0]
    plan = _plan(_TAKE_SQL, [floor, 2**62, 0, 5000])
    assert "Join" not in plan, plan
    assert "SubPlan" in plan and "audit_auditseal_pkey" in plan, plan
    assert audit_seal() == 3


def test_good_seal_watch_reads_the_waiting_events_by_transaction_id() -> None:
    _chain_of(5000)
    plan = _waiting().order_by("txid", "id")[:1].explain()
    assert "Join" not in plan, plan
    assert "audit_txid_idx" in plan and "SubPlan" in plan, plan
    lag = audit_seal_lag()
    assert lag is not None and lag.event.subject_id == "0"  # the oldest of the three waiting
    assert _waiting().count() == 3
