"""A worker killed with ``kill -9`` in the middle of a task, for every task family: the task's
message was not acknowledged (``task_acks_late``), so a restarted worker runs it again, and the
work is done exactly once.

How a task is caught in the middle, without any test-only path in the task: the test holds a lock
the task needs part-way (a table lock in EXCLUSIVE mode lets the task read but stops its first write
to that table, after it has written elsewhere in the same transaction; or a row lock on its
subject), waits until Postgres shows the worker's session waiting for that lock, then kills the
worker and lets go of the lock. The dead worker's transaction is rolled back; its message is handed
to the next worker once the (here shortened) visibility timeout has passed.

Families (every task in */tasks.py; beat-only sweeps are re-run by beat anyway and share the
services below):
  escalations / SLA   ops.work_items_escalate_task, approvals_expire_task, audit_seal_watch_task
  webhook apply       payments.inbound_events_drain_task
  screening           kyc.client_screen_task, rescreen_all_task, sanctions_import_task
  notifications       ops.interaction_send_task, interactions_send_task
  payouts             payments.payout_send_task, deposit_refund_send_task, deposit_refunds_resend_task
  platform            accounts.trading_account_provision_task, trading_account_push_task, platform_sync_task,
                      payments.platform_balance_push_task, platform_hold_push_task
  reconciliation      payments.statement_match_task, reconcile_task
  audit sealing       audit.audit_seal_task
  (each family's first task is killed here; not here: the KYC sweeps kyc_expiry_task and
  kyc_periodic_review_task, the heartbeat, and sim.simpay_settle_task, the demo's PSP)

Known limit: an e-mail is sent between two transactions (interaction_send), so a worker killed
after the mail server took the message and before it is marked sent sends it again on the retry:
at least once there, as with any SMTP sender; the test kills the worker before the send."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Model
from django.utils import timezone
from psycopg import sql

from audit.actions import AuditAction
from audit.models import AuditEvent
from backoffice.celery import app
from ops.models import WorkItem
from ops.roles import Role
from tests.conftest import wait_for
from tests.factories import staff, work_item
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

VISIBILITY_SECONDS = 2  # how long an unacknowledged message waits before another worker gets it


def _lock_connection() -> psycopg.Connection[Any]:
    params = connection.get_connection_params()
    keep = {k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}
    return psycopg.connect(**keep)


def _waiting_for_a_lock() -> bool:
    """Some session waits for a lock: in these tests only the worker can, on the one the test holds
    (its statement may name the table or not: a row lock is waited for on the holder's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def table_held(model: type[Model]) -> Iterator[str]:
    """Reads go on; the first INSERT/UPDATE/DELETE (or FOR UPDATE) on the table waits."""
    table = model._meta.db_table
    with _lock_connection() as conn:
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(table)))
        try:
            yield table
        finally:
            conn.rollback()


@contextlib.contextmanager
def row_held(model: type[Model], pk: int) -> Iterator[str]:
    table = model._meta.db_table
    with _lock_connection() as conn:
        conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(sql.Identifier(table)), [pk])
        try:
            yield table
        finally:
            conn.rollback()


class Relay:
    """A test's two workers: the first is started at once (it comes up while the test builds its
    data) and killed mid-task; the second finishes the task. They write e-mail to files under
    ``folder``/outbox."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.workers = [self._spawn("doomed")]

    def _spawn(self, name: str) -> Worker:
        env = {
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_SECONDS),
            "BACKOFFICE_VAR_DIR": str(self.folder),
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        }
        return Worker(name, self.folder / f"{name}.log", env=env, pool="prefork")  # as production runs them

    def kill_mid_task(self, held: contextlib.AbstractContextManager[str], start: Callable[[], Any]) -> None:
        """Start the task, catch it waiting on ``held``, kill -9 the worker, let go, start another
        worker, and wait until that one has run the task to the end."""
        app.control.purge()  # what the test's set-up queued on commit: the test starts the task itself
        victim = self.workers[0].wait_ready()
        try:
            with held:
                result = start()
                published = time.monotonic()
                wait_for(_waiting_for_a_lock, timeout=30)
                victim.kill9()
        finally:
            victim.stop()
        assert f"{result.id}] succeeded" not in victim.log_path.read_text()
        # the message is handed out again once unacknowledged for the visibility timeout
        time.sleep(max(0.0, VISIBILITY_SECONDS + 0.2 - (time.monotonic() - published)))
        self.workers.append(self._spawn("restarted").wait_ready())
        log = self.workers[-1].log_path
        wait_for(lambda: f"{result.id}] succeeded" in log.read_text(), timeout=60)

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"

    def stop(self) -> None:
        for worker in self.workers:  # the task is done and acknowledged: no need to wait for a warm shutdown
            if worker.proc.poll() is None:
                worker.kill9()
            worker.stop()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    app.control.purge()
    workers = Relay(tmp_path)
    yield workers
    workers.stop()
    app.control.purge()


def test_escalation_killed_mid_task_escalates_once(relay: Relay) -> None:
    from ops.models import StaffNotification
    from ops.services.work_items import work_item_claim
    from ops.tasks import work_items_escalate_task

    lead = staff(Role.COMPLIANCE)
    item = work_item("screening_hit", risk_level="high")
    work_item_claim(item_id=item.pk, user=staff(Role.COMPLIANCE, lead=lead))
    WorkItem.objects.filter(pk=item.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    # the item is updated in the task's transaction; its audit event (written after) waits
    relay.kill_mid_task(table_held(AuditEvent), work_items_escalate_task.delay)
    wait_for(lambda: AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_ESCALATED).exists())
    item.refresh_from_db()
    assert item.escalation_level == 1 and item.queue.code == "compliance_escalation"
    assert AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_ESCALATED, subject_id=str(item.pk)).count() == 1
    assert StaffNotification.objects.filter(recipient=lead).count() == 1


def test_webhook_apply_killed_mid_batch_credits_once(relay: Relay) -> None:
    from payments.models import Deposit, DepositStatus, InboundEvent, JournalEntry, WebhookStatus
    from payments.services.deposits import deposit_initiate
    from payments.services.ledger import balance_of, ledger_verify, wallet_for
    from payments.services.webhooks import inbound_event_store
    from payments.tasks import inbound_events_drain_task
    from sim import simpay
    from tests.factories import approved_client

    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="75.00", currency="EUR")
    obj = {
        "id": f"pay_{deposit.reference}", "order_reference": deposit.reference, "amount": str(deposit.amount),
        "currency": "EUR", "cardholder": c.display_name, "card_last4": "4242",
    }  # fmt: skip
    delivery = simpay.signed(simpay.event("payment.succeeded", obj))
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    entries = JournalEntry.objects.count()
    # the callback is claimed and the deposit locked in the task's transaction; the audit event waits
    relay.kill_mid_task(table_held(AuditEvent), inbound_events_drain_task.delay)
    wait_for(lambda: InboundEvent.objects.get(pk=stored.pk).status != WebhookStatus.RECEIVED)
    assert InboundEvent.objects.get(pk=stored.pk).status == WebhookStatus.PROCESSED
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("75.00")
    assert JournalEntry.objects.count() == entries + 1
    assert ledger_verify().ok


def test_screening_killed_mid_task_raises_one_hit_and_one_work_item(relay: Relay) -> None:
    import io

    from kyc.models import ScreeningHit
    from kyc.services.screening import sanctions_import
    from kyc.tasks import client_screen_task
    from tests.factories import client

    header = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n"
    row = "Q1,Person,Ada Lovelace,,,,,,EU sanctions,,,eu_fsf,2020-01-01,2026-11-01,2026-11-01\n"
    list(sanctions_import(name="opensanctions", source=io.StringIO(header + row), source_file="targets.simple.csv"))
    c: Any = client(first_name="Ada", last_name="Lovelace")
    ScreeningHit.objects.filter(client=c).delete()  # as if never screened (registration may have screened)
    WorkItem.objects.filter(queue__code="screening_hit").delete()
    # the hit and its audit event are written in the task's transaction; the work item waits
    relay.kill_mid_task(table_held(WorkItem), lambda: client_screen_task.delay(client_id=c.pk))
    wait_for(lambda: WorkItem.objects.filter(queue__code="screening_hit", subject_id=str(c.pk)).exists())
    assert ScreeningHit.objects.filter(client=c).count() == 1
    assert WorkItem.objects.filter(queue__code="screening_hit", subject_id=str(c.pk)).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.SCREENING_HIT_RAISED, subject_id=str(c.pk)).count() == 1


def test_notification_killed_before_sending_is_sent_once(relay: Relay) -> None:
    from django.contrib.contenttypes.models import ContentType

    from ops.models import Interaction, InteractionStatus
    from ops.tasks import interaction_send_task

    subject = staff()
    message = Interaction.objects.create(
        subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk), recipient="ada@example.com",
        title="Your withdrawal was paid", body="Paid.", actor_label="system:pytest",
    )  # fmt: skip
    # the message's row is held: the worker waits to lock it, before anything is sent
    start = lambda: interaction_send_task.delay(interaction_id=message.pk)  # noqa: E731
    relay.kill_mid_task(row_held(Interaction, message.pk), start)
    wait_for(lambda: Interaction.objects.get(pk=message.pk).status == InteractionStatus.SENT)
    sent = [f for f in relay.outbox.glob("*.log") if "Your withdrawal was paid" in f.read_text()]
    assert len(sent) == 1


def test_payout_killed_after_the_psp_call_pays_once(relay: Relay) -> None:
    from payments.models import Withdrawal
    from payments.services.ledger import wallet_for
    from payments.services.withdrawals import withdrawal_payout_execute, withdrawal_request
    from payments.tasks import payout_send_task
    from sim.models import SimPspPayout
    from tests.factories import approved_client, card_deposit

    c = approved_client(provision=False)
    deposit = card_deposit(c, "900.00")
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="400.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    from ops.services.approvals import approval_decide

    assert w.approval_request_id is not None
    for checker in (staff(Role.FINANCE), staff(Role.COMPLIANCE)):
        approval_decide(request_id=w.approval_request_id, checker=checker, decision="approve", reason="ok")
    withdrawal_payout_execute(withdrawal_id=w.pk, actor=staff(Role.FINANCE))  # queues the task (purged below)
    # the PSP is asked to pay; recording its voucher waits for the withdrawal's row
    start = lambda: payout_send_task.delay(withdrawal_id=w.pk)  # noqa: E731
    relay.kill_mid_task(row_held(Withdrawal, w.pk), start)
    assert SimPspPayout.objects.filter(idempotency_key=str(w.payout_key)).count() == 1  # paid before the kill
    voucher = wait_for(lambda: Withdrawal.objects.get(pk=w.pk).voucher)
    [payout] = SimPspPayout.objects.filter(amount=Decimal("400.00"))  # the retry asked with the same key
    assert payout.payout_id == voucher


def test_provisioning_killed_after_the_platform_call_opens_one_account(relay: Relay) -> None:
    from accounts.models import TradingAccount
    from accounts.tasks import trading_account_provision_task
    from sim.models import SimPlatformAccount
    from tests.factories import approved_client

    c = approved_client(provision=False)  # approval queued the provisioning task (purged below)
    account = c.trading_accounts.get()
    assert not account.login
    # the platform account is created; recording its login waits for the trading account's row
    start = lambda: trading_account_provision_task.delay(account_id=account.pk)  # noqa: E731
    relay.kill_mid_task(row_held(TradingAccount, account.pk), start)
    assert SimPlatformAccount.objects.filter(idempotency_key=str(account.provision_key)).count() == 1
    login = wait_for(lambda: TradingAccount.objects.get(pk=account.pk).login)
    assert SimPlatformAccount.objects.filter(idempotency_key=str(account.provision_key)).count() == 1
    assert (
        AuditEvent.objects.filter(action=AuditAction.TRADING_ACCOUNT_PROVISIONED, subject_id=str(account.pk)).count()
        == 1
    )
    assert login and not login.startswith("pending-")


def test_statement_matching_killed_mid_line_credits_once(relay: Relay) -> None:
    from payments.models import LineStatus, StatementLine
    from payments.services.bank import statement_import
    from payments.services.ledger import balance_of, ledger_verify, wallet_for
    from payments.tasks import statement_match_task
    from tests.factories import approved_client
    from tests.payments.test_bank import _mt940

    c = approved_client(provision=False)
    data = _mt940([("C250,00", c.reference, c.display_name)])
    imported = statement_import(actor=staff(Role.FINANCE), data=data, filename="nov.sta")  # queues matching (purged)
    # the line is locked and the deposit booked in the task's transaction; the audit event waits
    start = lambda: statement_match_task.delay(import_id=imported.pk)  # noqa: E731
    relay.kill_mid_task(table_held(AuditEvent), start)
    wait_for(lambda: StatementLine.objects.get(statement=imported).status != LineStatus.NEW)
    assert StatementLine.objects.get(statement=imported).status == LineStatus.MATCHED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("250.00")
    assert ledger_verify().ok


def test_audit_sealing_killed_mid_batch_seals_each_event_once(relay: Relay) -> None:
    from audit.models import AuditSeal, AuditSealBatch
    from audit.selectors import audit_chain_verify
    from audit.services import audit_seal
    from audit.tasks import audit_seal_task

    audit_seal()  # what the set-up recorded
    for n in range(5):
        work_item("kyc_review", title=f"Check {n}")  # each opening is an audit event
    waiting = audit_chain_verify().unsealed
    assert waiting >= 5
    # the seals are copied in the task's transaction; the batch row after them waits
    relay.kill_mid_task(table_held(AuditSealBatch), audit_seal_task.delay)
    report = audit_chain_verify()
    assert report.ok and report.unsealed == 0
    assert AuditSeal.objects.count() == AuditEvent.objects.count() == report.verified
