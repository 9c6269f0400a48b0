"""Commission runs: the deals of a period through the engine, client chunk by client chunk.

A run is started by finance (``commission_run_start``) or by beat every night for the day before,
and carried out by a Celery task (``commission_run_task`` -> ``commission_run_execute``). The
clients concerned (deals closed, deposits completed or approvals in the period) are taken in
chunks; each chunk's deal, rebate and CPA lines are written in its own transaction, with the
run's progress. Revenue share follows per partner, then the run issues the statements of the
partners with lines in the period and is done. Lines are unique per deal (client, month),
beneficiary and plan version, so a run killed midway and run again -- or a second run of the same
period -- adds only what is missing.

When a run is done, after its commit, the hooks registered with ``register_run_finished_hook``
are called with the run's id (the ledger posts the new lines from there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionRun, Partner, RunStatus, Statement
from ib.services.commissions import _period_bounds, deal_lines_write
from ib.services.cpa import cpa_lines_write
from ib.services.revshare import months_in, revshare_lines_write
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny

log = logging.getLogger(__name__)

MAX_PERIOD_DAYS = 366

_finished_hooks: list[Callable[[int], object]] = []


def register_run_finished_hook(hook: Callable[[int], object]) -> None:
    """Call ``hook(run_id)`` after the commit of every run that finishes (registered in
    ``AppConfig.ready``)."""
    if hook not in _finished_hooks:
        _finished_hooks.append(hook)


def commission_can_run(actor: User) -> Decision:
    """Start a commission run for a period (finance)."""
    if not actor.is_authenticated or not actor.has_perm("ops.run_commissions"):
        return deny(errors.NOT_ALLOWED_RUN)
    return ALLOWED


def commission_can_view_runs(actor: User) -> Decision:
    """See the runs, their statements and the deals that earned nothing (whoever sees partners)."""
    if not actor.is_authenticated or not actor.has_perm("ops.view_partners"):
        return deny(errors.NOT_ALLOWED_VIEW)
    return ALLOWED


@transaction.atomic(durable=True)
def commission_run_start(*, period_start: date, period_end: date, actor: User | None) -> CommissionRun:
    """Queue a run of the deals closed from ``period_start`` to ``period_end`` (inclusive). ``actor``
    None: the nightly schedule."""
    if actor is not None:
        commission_can_run(actor).require(PartnerError)
    today = timezone.localdate()
    if period_end < period_start:
        raise ValidationError({"period_end": errors.RUN_PERIOD_BACKWARDS})
    if period_end > today:
        raise ValidationError({"period_end": errors.RUN_PERIOD_FUTURE.format(date=period_end)})
    if (period_end - period_start).days >= MAX_PERIOD_DAYS:
        raise ValidationError({"period_start": errors.RUN_PERIOD_TOO_LONG.format(days=MAX_PERIOD_DAYS)})
    run = CommissionRun.objects.create(
        period_start=period_start,
        period_end=period_end,
        started_by=actor.get_username() if actor is not None else "system:commission-schedule",
    )
    audit_record(
        action=AuditAction.COMMISSION_RUN_STARTED,
        subject=run,
        after={"period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
    )
    from ib.tasks import commission_run_task

    transaction.on_commit(lambda: commission_run_task.delay(run_id=run.pk))
    return run


def commission_run_yesterday() -> CommissionRun:
    """The nightly run: the day before."""
    yesterday = timezone.localdate() - timedelta(days=1)
    return commission_run_start(period_start=yesterday, period_end=yesterday, actor=None)


RUN_CLIENTS_SQL = """
SELECT client_id FROM ib_deal WHERE closed_at >= %(period_from)s AND closed_at < %(period_to)s
UNION
SELECT client_id FROM payments_deposit
WHERE status = 'credited' AND completed_at >= %(period_from)s AND completed_at < %(period_to)s
UNION
SELECT id FROM accounts_historicalclient
WHERE status = 'approved' AND history_date >= %(period_from)s AND history_date < %(period_to)s
ORDER BY 1
"""


def run_clients(run: CommissionRun) -> list[int]:
    """The clients a run looks at: deals closed, deposits credited or approvals in its period."""
    period_from, period_to = _period_bounds(run.period_start, run.period_end)
    with connection.cursor() as cursor:
        cursor.execute(RUN_CLIENTS_SQL, {"period_from": period_from, "period_to": period_to})
        return [row[0] for row in cursor.fetchall()]


def _revshare_partners(run: CommissionRun) -> list[Partner]:
    if not months_in(run.period_start, run.period_end):
        return []
    return list(
        Partner.objects.filter(
            plans__plan__versions__rules__kind="revshare",
            plans__valid_from__lte=run.period_end,
        )
        .distinct()
        .order_by("path")
    )


def commission_run_execute(*, run_id: int) -> CommissionRun | None:
    """Carry out the run (the task's body): chunk by chunk, each its own transaction. A run found
    running (its worker died) starts over; what its finished chunks wrote stays and is not
    written twice. None when the run is already done or failed."""
    claimed = CommissionRun.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), timezone.now()), progress_done=0
    )
    if not claimed:
        return None
    run = CommissionRun.objects.get(pk=run_id)
    try:
        clients = run_clients(run)
        size = settings.COMMISSION_RUN_CHUNK_CLIENTS
        chunks = [clients[i : i + size] for i in range(0, len(clients), size)]
        partners = _revshare_partners(run)
        CommissionRun.objects.filter(pk=run_id).update(progress_total=len(chunks) + len(partners) + 1)
        for chunk in chunks:
            with transaction.atomic():
                written = deal_lines_write(run=run, client_ids=chunk)
                written += cpa_lines_write(run=run, client_ids=chunk)
                CommissionRun.objects.filter(pk=run_id).update(
                    progress_done=F("progress_done") + 1, lines_created=F("lines_created") + written
                )
        for partner in partners:
            with transaction.atomic():
                written = revshare_lines_write(run=run, partner=partner)
                CommissionRun.objects.filter(pk=run_id).update(
                    progress_done=F("progress_done") + 1, lines_created=F("lines_created") + written
                )
        return commission_run_finish(run_id=run_id)
    except Exception as exc:
        log.exception("commission run %s failed", run_id)
        commission_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        raise


@transaction.atomic(durable=True)
def commission_run_finish(*, run_id: int) -> CommissionRun:
    """Issue the statements of the run's period and mark it done."""
    run = CommissionRun.objects.select_for_update().get(pk=run_id)
    issued = statements_issue(period_start=run.period_start, period_end=run.period_end)
    run.status = RunStatus.DONE
    run.progress_done = run.progress_total
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "progress_done", "finished_at"])
    audit_record(
        action=AuditAction.COMMISSION_RUN_FINISHED,
        subject=run,
        after={"lines_created": run.lines_created, "statements_issued": len(issued)},
    )
    for hook in list(_finished_hooks):
        transaction.on_commit(lambda hook=hook: hook(run_id))  # type: ignore[misc]
    return run


@transaction.atomic(durable=True)
def commission_run_fail(*, run_id: int, error: str) -> None:
    run = CommissionRun.objects.select_for_update().get(pk=run_id)
    run.status = RunStatus.FAILED
    run.error = error[:2000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit_record(action=AuditAction.COMMISSION_RUN_FINISHED, subject=run, after={"failed": run.error})


# --- statements ----------------------------------------------------------------------------------

# The facts of a partner's lines in a period, in a fixed order, hashed: neither line ids nor when
# they were written, so the same lines written by another run give the same hash.
STATEMENTS_SQL = """
WITH facts AS (
    SELECT l.partner_id, l.currency, l.amount,
           concat_ws('|', l.kind, COALESCE(d.deal_id, ''), COALESCE(l.client_id::text, ''),
                     COALESCE(l.period::text, ''), l.level, COALESCE(pl.code, ''), COALESCE(v.number::text, ''),
                     l.base_amount, l.base_currency, l.fx_rate, COALESCE(l.fx_at::text, ''), l.amount,
                     l.currency, l.earned_on) AS fact
    FROM ib_commissionline l
    LEFT JOIN ib_deal d ON d.id = l.deal_id
    LEFT JOIN ib_planversion v ON v.id = l.plan_version_id
    LEFT JOIN ib_commissionplan pl ON pl.id = v.plan_id
    WHERE l.partner_id IS NOT NULL AND l.earned_on >= %(start)s AND l.earned_on <= %(end)s
      AND (%(partner_id)s::bigint IS NULL OR l.partner_id = %(partner_id)s::bigint)
),
sums AS (
    SELECT partner_id, currency, count(*) AS lines_count, sum(amount) AS total,
           encode(sha256(convert_to(string_agg(fact, E'\\n' ORDER BY fact), 'UTF8')), 'hex') AS sha256
    FROM facts GROUP BY partner_id, currency
)
INSERT INTO ib_statement (partner_id, period_start, period_end, currency, lines_count, total, sha256, issued_at)
SELECT s.partner_id, %(start)s, %(end)s, s.currency, s.lines_count, s.total, s.sha256, %(now)s
FROM sums s
WHERE NOT EXISTS (
    SELECT 1 FROM ib_statement st
    WHERE st.partner_id = s.partner_id AND st.period_start = %(start)s AND st.period_end = %(end)s
      AND st.currency = s.currency AND st.sha256 = s.sha256)
RETURNING id
"""


def _issue(*, period_start: date, period_end: date, partner: Partner | None) -> list[Statement]:
    with connection.cursor() as cursor:
        cursor.execute(
            STATEMENTS_SQL,
            {
                "start": period_start,
                "end": period_end,
                "partner_id": partner.pk if partner else None,
                "now": timezone.now(),
            },
        )
        ids = [row[0] for row in cursor.fetchall()]
    issued = list(Statement.objects.filter(pk__in=ids).select_related("partner"))
    for statement in issued:
        audit_record(
            action=AuditAction.STATEMENT_ISSUED,
            subject=statement,
            after={"partner": statement.partner.name, "total": str(statement.total), "sha256": statement.sha256},
        )
    return issued


def statements_issue(*, period_start: date, period_end: date) -> list[Statement]:
    """The statements of every partner with lines earned in the period (composable). A statement
    identical to one already issued for the period is not issued again."""
    return _issue(period_start=period_start, period_end=period_end, partner=None)


@transaction.atomic
def statement_issue(*, partner: Partner, period_start: date, period_end: date) -> list[Statement]:
    """The partner's statement for the period, one per currency of its lines: the lines' total and
    the sha256 of their facts. Reissuing with the same lines gives back the statement already
    issued (same hash)."""
    issued = _issue(period_start=period_start, period_end=period_end, partner=partner)
    if issued:
        return issued
    latest: dict[str, Statement] = {}
    for statement in Statement.objects.filter(
        partner=partner, period_start=period_start, period_end=period_end
    ).order_by("issued_at", "id"):
        latest[statement.currency] = statement
    return list(latest.values())
