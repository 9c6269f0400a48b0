"""A worker killed with ``kill -9`` in the middle of a task, for every task family: the task's
message was not acknowledged (``task_acks_late``), so a restarted worker runs it again, and the
work is done exactly once.

How a task is caught in the middle, without any test-only path in the task: the test holds a lock
the task needs part-way (a table lock in EXCLUSIVE mode lets the task read but stops its first write
to that table, after it has written elsewhere in the same transaction; or a row lock on its
subject), waits until Postgres shows the worker's session waiting for that lock, then kills the
worker and lets go of the lock. The dead worker's transaction is rolled back; its message is handed
to the next worker once the (here shortened) visibility timeout has passed.

Families (every task in */tasks.py), and the task of each that is killed here:
  escalations / SLA   ops.work_items_escalate_task, approvals_expire_task, audit_seal_watch_task
                      (killed: work_items_escalate_task, approvals_expire_task)
  webhook apply       payments.inbound_events_drain_task
  screening           kyc.client_screen_task, rescreen_all_task, sanctions_import_task (all three killed)
  KYC sweeps          kyc.kyc_expiry_task, kyc_periodic_review_task (both killed)
  notifications       ops.interaction_send_task, interactions_send_task
  payouts and refunds payments.payout_send_task, deposit_refund_send_task, deposit_refunds_resend_task
                      (killed: payout_send_task, deposit_refund_send_task; the resend sweep only queues)
  platform            accounts.trading_account_provision_task, trading_account_push_task, platform_sync_task,
                      payments.platform_balance_push_task, platform_hold_push_task
                      (killed: trading_account_provision_task, platform_sync_task)
  reconciliation      payments.statement_match_task, reconcile_task (both killed)
  audit sealing       audit.audit_seal_task
  retention           accounts.retention_pseudonymise_task
  security            ops.security_alerts_task, access_review_open_due_task (both killed)
  housekeeping        backoffice.idempotency_keys_purge_task
  trade feed          ib.deals_pull_task (killed between storing a page and processing it: tests/ib/test_feed.py)
  not here: ops.scheduler_heartbeat_task (a heartbeat row, re-written every run) and
  sim.simpay_settle_task (the demo's PSP, not the back office)

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
from tests.conftest import owner_url, wait_for
from tests.factories import staff, work_item
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

VISIBILITY_SECONDS = 2  # how long an unacknowledged message waits before another worker gets it


def _lock_connection() -> psycopg.Connection[Any]:
    """As the owner role: the application's role may not lock an append-only table (LOCK TABLE in
    EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE on it)."""
    return psycopg.connect(owner_url())


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
            "KYC_STORAGE_ROOT": str(self.kyc_storage),
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
    def kyc_storage(self) -> Path:
        return self.folder / "kyc-documents"

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


@pytest.mark.serial
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


def test_kyc_expiry_sweep_killed_mid_document_restricts_once(relay: Relay) -> None:
    from accounts.models import Client, ClientStatus
    from kyc.models import Document, DocumentStatus
    from kyc.tasks import kyc_expiry_task
    from ops.models import Interaction
    from tests.kyc.test_expiry import _approved_with_identity_expiring

    c, identity = _approved_with_identity_expiring(timezone.localdate() - timedelta(days=1))
    # the document expires, the client is restricted and told in the task's transaction; the re-KYC item waits
    relay.kill_mid_task(table_held(WorkItem), kyc_expiry_task.delay)
    assert Document.objects.get(pk=identity.pk).status == DocumentStatus.EXPIRED
    assert Client.objects.get(pk=c.pk).status == ClientStatus.RESTRICTED
    assert AuditEvent.objects.filter(action=AuditAction.KYC_DOCUMENT_EXPIRED, subject_id=str(c.pk)).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_RESTRICTED, subject_id=str(c.pk)).count() == 1
    assert WorkItem.objects.filter(queue__code="kyc_review", subject_id=str(c.pk)).count() == 1
    assert Interaction.objects.filter(subject_id=str(c.pk), template="kyc.document_expired_restricted").count() == 1


def test_kyc_periodic_review_killed_mid_client_opens_one_review(relay: Relay) -> None:
    from kyc.models import RiskAssessment
    from kyc.tasks import kyc_periodic_review_task
    from tests.factories import approved_client

    c = approved_client(provision=False)
    RiskAssessment.objects.filter(client=c).update(assessed_at=timezone.now() - timedelta(days=4 * 365))
    # the review item is inserted in the task's transaction; its audit event waits
    relay.kill_mid_task(table_held(AuditEvent), kyc_periodic_review_task.delay)
    [item] = WorkItem.objects.filter(queue__code="kyc_review", subject_id=str(c.pk))
    assert item.title.startswith("Periodic review")
    assert AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_OPENED, subject_id=str(item.pk)).count() == 1


SANCTIONS_HEADER = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n"


def test_sanctions_import_killed_mid_file_completes_one_version_and_rescreens_once(relay: Relay) -> None:
    from kyc.models import ListImportStatus, SanctionsEntry, SanctionsListVersion, ScreeningHit
    from kyc.tasks import sanctions_import_task
    from tests.factories import client

    c: Any = client(first_name="Grace", last_name="Hopper")
    lists = relay.kyc_storage / "lists"
    lists.mkdir(parents=True)
    row = "Q2,Person,Grace Hopper,,,,,,EU sanctions,,,eu_fsf,2020-01-01,2026-11-01,2026-11-01\n"
    (lists / "targets.simple.csv").write_text(SANCTIONS_HEADER + row)
    start = lambda: sanctions_import_task.delay(path="lists/targets.simple.csv", name="opensanctions")  # noqa: E731
    # the version is created (committed on its own); writing its entries waits
    relay.kill_mid_task(table_held(SanctionsEntry), start)
    [version] = SanctionsListVersion.objects.all()  # the retry took up the version the dead worker began
    assert version.status == ListImportStatus.COMPLETE and version.entry_count == 1
    assert AuditEvent.objects.filter(action=AuditAction.SANCTIONS_LIST_IMPORTED).count() == 1
    # the completed import queued the rescreening of everyone, which the restarted worker runs once
    wait_for(lambda: WorkItem.objects.filter(queue__code="screening_hit", subject_id=str(c.pk)).exists())
    assert ScreeningHit.objects.filter(client=c).count() == 1


def test_rescreen_all_killed_mid_client_raises_one_hit_each(relay: Relay) -> None:
    import io

    from kyc.models import ScreeningHit
    from kyc.services.screening import sanctions_import
    from kyc.tasks import rescreen_all_task
    from tests.factories import client

    rows = "".join(
        f"Q{n},Person,{name},,,,,,EU sanctions,,,eu_fsf,2020-01-01,2026-11-01,2026-11-01\n"
        for n, name in enumerate(["Ada Lovelace", "Grace Hopper"])
    )
    [*_, done] = sanctions_import(
        name="opensanctions", source=io.StringIO(SANCTIONS_HEADER + rows), source_file="t.csv"
    )
    clients = [client(first_name="Ada", last_name="Lovelace"), client(first_name="Grace", last_name="Hopper")]
    ScreeningHit.objects.all().delete()  # as if never screened (registration screened them)
    WorkItem.objects.filter(queue__code="screening_hit").delete()
    # each hit is written in its own transaction; the first one's work item waits
    start = lambda: rescreen_all_task.delay(version_id=done.version_id)  # noqa: E731
    relay.kill_mid_task(table_held(WorkItem), start)
    for c in clients:
        assert ScreeningHit.objects.filter(client=c).count() == 1
        assert WorkItem.objects.filter(queue__code="screening_hit", subject_id=str(c.pk)).count() == 1
        assert AuditEvent.objects.filter(action=AuditAction.SCREENING_HIT_RAISED, subject_id=str(c.pk)).count() == 1


def test_reconciliation_killed_mid_break_opens_one_break(relay: Relay) -> None:
    from payments.models import Deposit, ReconciliationBreak
    from payments.tasks import reconcile_task
    from tests.factories import approved_client, card_deposit

    deposit = card_deposit(approved_client(provision=False), "80.00")
    Deposit.objects.filter(pk=deposit.pk).update(completed_at=timezone.now() - timedelta(days=4))  # never settled
    # the break and its audit event are written in the task's transaction; its work item waits
    relay.kill_mid_task(table_held(WorkItem), reconcile_task.delay)
    [brk] = ReconciliationBreak.objects.filter(kind="psp_payment_unsettled")
    assert brk.key.endswith(deposit.external_id)
    assert AuditEvent.objects.filter(action=AuditAction.RECONCILIATION_BREAK, subject_id=str(brk.pk)).count() == 1
    assert WorkItem.objects.filter(queue__code="reconciliation_break", subject_id=str(brk.pk)).count() == 1


def test_retention_killed_mid_client_pseudonymises_once(relay: Relay, settings: Any) -> None:
    from accounts.models import Client
    from accounts.tasks import retention_pseudonymise_task
    from audit.selectors import audit_chain_verify
    from kyc.models import Document
    from tests.accounts.test_retention import _closed_client

    settings.KYC_STORAGE_ROOT = relay.kyc_storage  # where the workers keep the document files
    old = _closed_client(years_ago=5.1, first_name="Grace", last_name="Hopper")
    files = [relay.kyc_storage / d.file.name for d in Document.objects.filter(client=old)]
    assert files and all(f.exists() for f in files)
    # the client, its parties, documents and history are rewritten in the task's transaction; the audit event waits
    relay.kill_mid_task(table_held(AuditEvent), retention_pseudonymise_task.delay)
    old = Client.objects.get(pk=old.pk)
    assert old.pseudonymised_at is not None and old.first_name == "Pseudonymised"
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_PSEUDONYMISED, subject_id=str(old.pk)).count() == 1
    assert not any(f.exists() for f in files)
    assert not Client.history.filter(id=old.pk, first_name="Grace").exists()
    assert audit_chain_verify().ok


def test_approvals_expiry_killed_mid_request_expires_and_releases_once(relay: Relay) -> None:
    from ops.models import ApprovalRequest, ApprovalStatus, Interaction
    from ops.tasks import approvals_expire_task
    from payments.models import Hold, HoldStatus, Withdrawal, WithdrawalStatus
    from payments.services.ledger import balance_of, ledger_verify, wallet_for
    from payments.services.withdrawals import withdrawal_request
    from tests.factories import approved_client, card_deposit

    c = approved_client(provision=False)
    deposit = card_deposit(c, "900.00")
    wallet = wallet_for(client=c, currency="EUR")
    w = withdrawal_request(
        client=c, source=wallet, amount="400.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    assert w.approval_request_id is not None and balance_of(wallet).held == Decimal("400.00")
    ApprovalRequest.objects.filter(pk=w.approval_request_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    # the request expires (audited, its maker told) in the task's transaction; closing the withdrawal waits
    relay.kill_mid_task(row_held(Withdrawal, w.pk), approvals_expire_task.delay)
    assert ApprovalRequest.objects.get(pk=w.approval_request_id).status == ApprovalStatus.EXPIRED
    request_id = str(w.approval_request_id)
    assert AuditEvent.objects.filter(action=AuditAction.APPROVAL_EXPIRED, subject_id=request_id).count() == 1
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.REJECTED
    assert AuditEvent.objects.filter(action=AuditAction.WITHDRAWAL_REJECTED, subject_id=str(w.pk)).count() == 1
    assert Hold.objects.get(withdrawal=w).status == HoldStatus.RELEASED
    assert balance_of(wallet).held == Decimal("0") and balance_of(wallet).ledger == Decimal("900.00")
    assert Interaction.objects.filter(subject_id=str(c.pk), template="payments.withdrawal_rejected").count() == 1
    assert ledger_verify().ok


def test_security_alerts_killed_mid_run_raise_one_alert(relay: Relay) -> None:
    from django.test import Client as HttpClient

    from audit.models import SecurityEvent, SecurityEventKind
    from ops.tasks import security_alerts_task
    from tests.ops.test_security_alerts import _refused

    _refused(HttpClient(), 20, REMOTE_ADDR="203.0.113.9")
    # the alert's security event is written in the task's transaction; its work item waits
    relay.kill_mid_task(table_held(WorkItem), security_alerts_task.delay)
    [item] = WorkItem.objects.filter(queue__code="security_alert")
    assert item.details["caller"] == "203.0.113.9"
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.ALERT_REFUSALS).count() == 1


def test_access_review_opening_killed_mid_task_opens_one_review(relay: Relay) -> None:
    from ops.models import AccessReview
    from ops.tasks import access_review_open_due_task

    # the quarter's review and its audit event are written in the task's transaction; its work item waits
    relay.kill_mid_task(table_held(WorkItem), access_review_open_due_task.delay)
    [review] = AccessReview.objects.all()
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_REVIEW_OPENED, subject_id=str(review.pk)).count() == 1
    assert WorkItem.objects.filter(queue__code="access_review", subject_id=str(review.pk)).count() == 1


def test_deposit_refund_killed_after_the_psp_call_refunds_once(relay: Relay) -> None:
    from payments.models import Deposit
    from payments.services.deposits import deposit_refund
    from payments.tasks import deposit_refund_send_task
    from sim.models import SimPspRefund
    from tests.payments.test_refunds import _held_card_deposit

    deposit = _held_card_deposit("75.00")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="not theirs")
    # the PSP is asked to refund; recording its refund id waits for the deposit's row
    start = lambda: deposit_refund_send_task.delay(deposit_id=deposit.pk)  # noqa: E731
    relay.kill_mid_task(row_held(Deposit, deposit.pk), start)
    refund_id = Deposit.objects.get(pk=deposit.pk).refund_reference
    [refund] = SimPspRefund.objects.all()  # the retry asked with the same key
    assert refund.refund_id == refund_id and refund.amount == Decimal("75.00")
    assert AuditEvent.objects.filter(action=AuditAction.DEPOSIT_REFUND_SENT, subject_id=str(deposit.pk)).count() == 1


def test_platform_sync_killed_mid_account_opens_one_mismatch(relay: Relay) -> None:
    from accounts.tasks import platform_sync_task
    from sim.platform import SimulatedPlatform
    from tests.factories import approved_client

    account = approved_client().trading_accounts.get()
    SimulatedPlatform.drift(account.login, leverage=500)
    # the mismatch item is inserted in the task's transaction; its audit event waits
    relay.kill_mid_task(table_held(AuditEvent), platform_sync_task.delay)
    [item] = WorkItem.objects.filter(queue__code="platform_sync_mismatch", subject_id=str(account.pk))
    assert item.details["differences"] == {"leverage": {"back_office": 100, "platform": 500}}
    assert AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_OPENED, subject_id=str(item.pk)).count() == 1


def test_idempotency_purge_killed_mid_delete_forgets_only_old_keys(relay: Relay) -> None:
    from backoffice.models import IdempotencyKey
    from backoffice.tasks import idempotency_keys_purge_task

    def key(name: str, hours_ago: int) -> IdempotencyKey:
        created = timezone.now() - timedelta(hours=hours_ago)
        return IdempotencyKey.objects.create(
            caller="user:1", key=name, method="POST", path="/api/v1/x/", request_hash="0" * 64, created_at=created
        )

    key("a", 48)
    older, fresh = key("b", 72), key("c", 1)
    # the old keys are deleted in one statement; the one whose row is held keeps it waiting
    relay.kill_mid_task(row_held(IdempotencyKey, older.pk), idempotency_keys_purge_task.delay)
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
