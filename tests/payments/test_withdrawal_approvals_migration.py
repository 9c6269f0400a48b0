"""The data migration that moved withdrawal approvals onto the maker-checker engine: the old
decisions become approval requests and decisions (maker, checkers, times, reasons, the payload and
its hash as the engine computes them), and a withdrawal that was waiting can be approved on the
engine afterwards.

The migration's function runs on the database as it stood before it (its ``apps``), with the old
``payments_withdrawalapproval`` table created again by the owner role (the tests connect as the
application role, which may not run DDL) and dropped after the test.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from ops import errors as ops_errors
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide, payload_hash
from payments.models import Withdrawal, WithdrawalStatus
from payments.services.ledger import hold_place, wallet_for
from payments.services.withdrawals import withdrawal_approval_payload
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db(transaction=True)

MIGRATION = "0006_withdrawal_approvals_to_engine"
migration = importlib.import_module(f"payments.migrations.{MIGRATION}")


def _old_withdrawal(client: Any, card: str, ref: str, amount: str, status: str, **fields: Any) -> Withdrawal:
    """A withdrawal as the old code left it: under review or decided, with no approval request."""
    wallet = wallet_for(client=client, currency="EUR")
    return Withdrawal.objects.create(
        reference=ref, client=client, source=wallet, amount=Decimal(amount), currency="EUR", method="card",
        destination=card, destination_name=client.display_name, status=status, approval="finance_compliance",
        flags=["first_withdrawal"], hold=hold_place(account=wallet, amount=Decimal(amount), reason=ref), **fields,
    )  # fmt: skip


@pytest.fixture
def old_apps(transactional_db: None) -> Iterator[Any]:
    """The apps before the migration, with its old table created by the owner role."""
    apps = MigrationLoader(connection).project_state(("payments", MIGRATION), at_end=False).apps
    OldApproval = apps.get_model("payments", "WithdrawalApproval")
    wrapper = type(connections["default"])  # a connection of its own, as the owner role
    owner = wrapper({**connection.settings_dict, **(settings.DATABASE_OWNER or {})}, alias="default")
    with owner.schema_editor() as editor:
        editor.create_model(OldApproval)
    try:
        yield apps
    finally:
        with owner.schema_editor() as editor:
            editor.delete_model(OldApproval)
        owner.close()


def test_old_withdrawal_approvals_become_engine_requests_with_their_decisions(old_apps: Any) -> None:
    OldApproval = old_apps.get_model("payments", "WithdrawalApproval")

    c = approved_client(provision=False)
    card = card_deposit(c, "5000.00").payer_account
    entered_by, finance, compliance = staff(Role.FINANCE), staff(Role.FINANCE), staff(Role.COMPLIANCE)
    day = timezone.now() - timedelta(days=3)
    paid = _old_withdrawal(c, card, "W-OLD-1", "300.00", WithdrawalStatus.PAID, requested_by=entered_by,
                           created_at=day, decided_at=day + timedelta(hours=2))  # fmt: skip
    OldApproval.objects.create(withdrawal_id=paid.pk, level=0, role="finance", user_id=finance.pk,
                               reason="card matches the deposit", decided_at=day + timedelta(hours=1))  # fmt: skip
    OldApproval.objects.create(withdrawal_id=paid.pk, level=1, role="compliance", user_id=compliance.pk,
                               reason="source of funds on file", decided_at=day + timedelta(hours=2))  # fmt: skip
    waiting = _old_withdrawal(c, card, "W-OLD-2", "200.00", WithdrawalStatus.UNDER_REVIEW, created_at=day)
    OldApproval.objects.create(withdrawal_id=waiting.pk, level=0, role="finance", user_id=finance.pk,
                               reason="client known", decided_at=day + timedelta(hours=1))  # fmt: skip
    untouched = _old_withdrawal(c, card, "W-OLD-3", "100.00", WithdrawalStatus.REJECTED, decided_at=day)

    migration.move_withdrawal_approvals(old_apps, None)

    done = ApprovalRequest.objects.get(action="payments.withdrawal", subject_id=str(paid.pk))
    paid.refresh_from_db()
    assert paid.approval_request == done
    assert (done.status, done.maker, done.maker_label) == (ApprovalStatus.EXECUTED, entered_by, entered_by.username)
    assert (done.required_roles, done.created_at, done.closed_at) == (
        ["finance", "compliance"], day, day + timedelta(hours=2)
    )  # fmt: skip
    # the payload and its hash are the ones the engine computes for this withdrawal today
    assert done.payload == withdrawal_approval_payload(paid) and done.payload_hash == payload_hash(done.payload)
    assert [(d.level, d.checker, d.decision, d.reason, d.decided_at) for d in done.decisions.order_by("level")] == [
        (0, finance, "approve", "card matches the deposit", day + timedelta(hours=1)),
        (1, compliance, "approve", "source of funds on file", day + timedelta(hours=2)),
    ]

    pending = ApprovalRequest.objects.get(action="payments.withdrawal", subject_id=str(waiting.pk))
    assert pending.status == ApprovalStatus.PENDING and pending.maker is None
    assert pending.maker_label == f"client {c.reference} ({c.display_name})"  # as the live code names them
    assert pending.expires_at > timezone.now()
    assert [d.checker for d in pending.decisions.all()] == [finance]
    assert not ApprovalRequest.objects.filter(subject_id=str(untouched.pk)).exists()  # nothing was decided

    # the waiting one carries on where it stood: its last level is decided on the engine
    with pytest.raises(OpsError, match=ops_errors.CHECKER_ALREADY_DECIDED):
        approval_decide(request_id=pending.pk, checker=finance, decision="approve", reason="again")
    result = approval_decide(request_id=pending.pk, checker=compliance, decision="approve", reason="on file")
    assert result.status == ApprovalStatus.EXECUTED
    assert Withdrawal.objects.get(pk=waiting.pk).status == WithdrawalStatus.APPROVED
