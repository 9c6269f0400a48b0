"""The reports at scale: every report family built on a database holding 1,000,000 postings,
100,000 clients, 1,000,000 deals and 1,000,000 audit events (``--scale`` shrinks every size; the
quick run uses 1 %), then a 1,000,000-row CSV export.

1. Load, with SQL (``generate_series``; triggers skipped as the ledger bench does when the
   connection is a superuser): the clients (spread over 180 days, half of them approved, each of
   those with its approval in the audit trail hours after registering; a dozen staff members as
   their account managers), their wallets and trading accounts, card deposits (a journal entry of
   two postings each: the wallet credited, a clearing account debited; the kept balances moved by
   them) and their deposit rows, card withdrawals by the approved clients (one per ten postings:
   100,000, about one per four deposits, over the same 180 days; most paid out an hour to five days
   after the request, 2 in 19 rejected with a reason code, 1 in 19 failed at the PSP with a failure
   code, the last days' still under review or with the PSP; each with its hold on the wallet,
   captured, released or still held; each paid one a journal entry of two postings, the wallet
   debited and the clearing account credited; its amount at most a share of what the deposits put
   in the wallet, so no wallet goes below zero), deals over the trading accounts, the rest of the
   audit events spread over staff actions (role grants, client updates, closings, work on the queues), and what
   the other reports read, at a broker's proportions: three or four KYC documents per client (a
   tenth with one rejected; identity documents expiring over ten years), screening hits on 2 % of
   the clients, 150,000 work items over the queues (a twentieth open, some of the resolved ones
   late), a partner tree of 292 with 40 % of the clients attributed and every deal of theirs
   earning two commission lines (800,000), a dispute per thousand lines, failed sign-ins. Then the
   net-deposit days summed up to yesterday, as beat's hourly refresh would have. POSTINGS is the
   ledger's whole size: the paid withdrawals' postings are counted first, the deposits take the rest
   (at scale 1: about 83,000 paid withdrawals' 166,000 postings, 417,000 deposits' 834,000).
2. Each family's report (``reporting.reports.report_build``, default filters: the last 90 days,
   its first page of rows and their count) built REPEATS times: its p95 beside the p95 of the bare
   SQL that computes the same figures, tables and first page by hand (``BARE``: no ORM, no Python
   around it). Goal: p95 <= 1 s and <= 3x the bare SQL.
3. The permissions report's dataset widened to every audit event exported as CSV by a child
   process (``reporting.exports.csv_stream``, written to /dev/null): seconds and the child's peak
   memory (its VmHWM; ru_maxrss would report the parent's peak). Goal: AUDIT rows in <= 60 s, peak
   <= 300 MB.

    python -m bench reports [--quick]
    python -m bench.reports [--scale 0.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from typing import Any

TITLE = (
    "reports: each report's p95 beside its bare SQL aggregate at 1M postings/deals/audit events; a 1M-row CSV export"
)

CLIENTS, POSTINGS, DEALS, AUDIT = 100_000, 1_000_000, 1_000_000, 1_000_000
QUICK_SCALE = 0.01
REPEATS, QUICK_REPEATS = 5, 2
GOAL_P95, GOAL_RATIO, GOAL_EXPORT_S, GOAL_EXPORT_MB = 1.0, 3.0, 60.0, 300.0
CHUNK = 50_000

# Each report's figures computed by hand-written SQL, with no ORM or Python around it: what the
# report's figures, charts, tables and first page of rows cost the database when written directly
# (the default filters: the last 90 days, no narrowing). The report's time over this is the
# overhead of the ORM, the definitions and the Python that shapes the page.
_IN_PERIOD = "%(start)s AND {col} < %(end)s"
_CLIENT_NAME = "c.first_name, c.last_name, c.legal_name, c.reference"
BARE: dict[str, list[str]] = {
    "accounts": [
        # the cohort: each client's furthest funnel step, by country and time bucket
        """SELECT CASE
             WHEN NOT EXISTS (SELECT 1 FROM audit_auditevent e WHERE e.subject_type = 'accounts.client'
                 AND e.action = 'client.approved' AND e.subject_id = c.id::text AND e.occurred_at < %(end)s) THEN 0
             WHEN NOT EXISTS (SELECT 1 FROM payments_deposit d WHERE d.client_id = c.id AND d.status = 'credited'
                 AND d.completed_at < %(end)s) THEN 1
             WHEN NOT EXISTS (SELECT 1 FROM ib_deal x WHERE x.client_id = c.id AND x.closed_at < %(end)s) THEN 2
             ELSE 3 END, c.country, date_trunc(%(trunc)s, c.created_at AT TIME ZONE %(tz)s), count(*)
           FROM accounts_client c WHERE c.created_at >= %(start)s AND c.created_at < %(end)s GROUP BY 1, 2, 3""",
        "SELECT count(*) FROM accounts_client WHERE status = 'pending_documents'",
        """SELECT count(DISTINCT subject_id) FROM audit_auditevent WHERE subject_type = 'accounts.client'
           AND action = 'client.closed' AND occurred_at >= %(start)s AND occurred_at < %(end)s""",
        """SELECT currency, count(*), sum(amount) FROM (
             SELECT DISTINCT ON (client_id) completed_at, currency, amount FROM payments_deposit
             WHERE status = 'credited' AND completed_at < %(end)s ORDER BY client_id, completed_at, id) f
           WHERE completed_at >= %(start)s GROUP BY currency""",
        """SELECT count(*) FROM accounts_client c WHERE EXISTS (SELECT 1 FROM ib_deal x WHERE x.client_id = c.id
           AND x.closed_at >= %(start)s AND x.closed_at < %(end)s)""",
        """SELECT c.reference, c.first_name, c.last_name, c.legal_name, c.country, t.name, c.status, u.username,
             u.first_name, u.last_name, c.created_at,
             (SELECT min(e.occurred_at) FROM audit_auditevent e WHERE e.subject_type = 'accounts.client'
              AND e.action = 'client.approved' AND e.subject_id = c.id::text), f.completed_at, f.amount, f.currency
           FROM accounts_client c JOIN accounts_accounttype t ON t.id = c.account_type_id
           LEFT JOIN ops_user u ON u.id = c.account_manager_id
           LEFT JOIN LATERAL (SELECT completed_at, amount, currency FROM payments_deposit d WHERE d.client_id = c.id
             AND d.status = 'credited' AND d.completed_at IS NOT NULL ORDER BY completed_at, id LIMIT 1) f ON true
           WHERE c.created_at >= %(start)s AND c.created_at < %(end)s ORDER BY c.created_at, c.id LIMIT 200""",
    ],
    "payments": [
        """SELECT channel, status, failure_code, count(*) FROM payments_deposit
           WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2, 3""",
        """SELECT avg(extract(epoch FROM paid_at - created_at)),
             percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM paid_at - created_at)), count(*)
           FROM payments_withdrawal WHERE status = 'paid' AND paid_at >= %(start)s AND paid_at < %(end)s""",
        # net deposits per currency and time bucket: the days summed (reporting_netdepositday), then
        # client accounts' postings of deposits, releases and paid withdrawals (and of their reversals)
        # made since
        # (``summed``: the summary's last day, read first as the report reads it)
        """SELECT currency, bucket, sum(dep), sum(wd) FROM (
             SELECT currency, date_trunc(%(trunc)s, day) AS bucket, sum(deposits) AS dep, sum(withdrawals) AS wd
             FROM reporting_netdepositday WHERE day >= %(date_from)s AND day <= %(summed)s GROUP BY 1, 2
             UNION ALL
             SELECT p.currency, date_trunc(%(trunc)s, (e.created_at AT TIME ZONE %(tz)s)::date),
               coalesce(sum(p.amount) FILTER (WHERE coalesce(r.kind, e.kind) IN ('deposit', 'deposit_release')), 0),
               coalesce(sum(p.amount) FILTER (WHERE coalesce(r.kind, e.kind) = 'withdrawal'), 0)
             FROM payments_posting p JOIN payments_journalentry e ON e.id = p.entry_id
             JOIN payments_ledgeraccount a ON a.id = p.account_id
             LEFT JOIN payments_journalentry r ON r.id = e.reverses_id AND e.kind = 'reversal'
             WHERE a.kind IN ('client_wallet', 'trading') AND e.created_at >= %(tail)s AND e.created_at < %(end)s
             AND (e.kind IN ('deposit', 'deposit_release', 'withdrawal')
                  OR r.kind IN ('deposit', 'deposit_release', 'withdrawal'))
             GROUP BY 1, 2) s
           GROUP BY 1, 2""",
        """SELECT count(*) FROM payments_journalentry e JOIN payments_journalentry r ON r.id = e.reverses_id
           WHERE e.kind = 'reversal' AND r.kind IN ('deposit', 'deposit_release')
           AND e.created_at >= %(start)s AND e.created_at < %(end)s""",
        """SELECT status, failure_code, count(*) FROM payments_withdrawal
           WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2""",
        f"""SELECT d.reference, {_CLIENT_NAME}, d.channel, d.amount, d.currency, d.status, d.failure_code,
             d.created_at, d.completed_at
           FROM payments_deposit d JOIN accounts_client c ON c.id = d.client_id
           WHERE d.created_at >= %(start)s AND d.created_at < %(end)s ORDER BY d.created_at, d.id LIMIT 200""",
    ],
    "compliance": [
        """SELECT count(*), count(*) FILTER (WHERE expiry_date <= %(horizon)s) FROM kyc_document
           WHERE status = 'accepted' AND expiry_date IS NOT NULL""",
        "SELECT count(*) FROM accounts_client WHERE risk_level IN ('high', 'critical')",
        """SELECT reference, first_name, last_name, legal_name, risk_level, status FROM accounts_client
           WHERE risk_level IN ('high', 'critical') ORDER BY created_at DESC, id DESC LIMIT 50""",
        """SELECT count(*) FILTER (WHERE w.created_at >= %(start)s AND w.created_at < %(end)s),
             count(*) FILTER (WHERE w.status IN ('open', 'in_progress', 'waiting_on_client'))
           FROM ops_workitem w JOIN ops_queue q ON q.id = w.queue_id WHERE q.code = 'edd'""",
        """SELECT status, count(*) FROM kyc_screeninghit WHERE created_at >= %(start)s AND created_at < %(end)s
           GROUP BY 1""",
        # time to KYC: each client's first approval, for those first approved in the period
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.first - c.created_at)),
             percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.first - c.created_at)), count(*)
           FROM (SELECT subject_id, min(occurred_at) AS first FROM audit_auditevent
                 WHERE subject_type = 'accounts.client' AND action = 'client.approved' GROUP BY subject_id
                 HAVING min(occurred_at) >= %(start)s AND min(occurred_at) < %(end)s) a
           JOIN accounts_client c ON c.id = a.subject_id::bigint""",
        """SELECT date_trunc(%(trunc)s, uploaded_at AT TIME ZONE %(tz)s), status, rejection_reason, count(*)
           FROM kyc_document WHERE uploaded_at >= %(start)s AND uploaded_at < %(end)s GROUP BY 1, 2, 3""",
        f"""SELECT {_CLIENT_NAME}, d.kind, d.status, d.rejection_reason, d.expiry_date, u.username, u.first_name,
             u.last_name, d.uploaded_at, d.reviewed_at
           FROM kyc_document d JOIN accounts_client c ON c.id = d.client_id
           LEFT JOIN ops_user u ON u.id = d.reviewed_by_id
           WHERE d.uploaded_at >= %(start)s AND d.uploaded_at < %(end)s ORDER BY d.uploaded_at, d.id LIMIT 200""",
    ],
    "permissions": [
        """SELECT actor_label, action, date_trunc(%(trunc)s, occurred_at AT TIME ZONE %(tz)s), count(*)
           FROM audit_auditevent WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND ({oversight})
           GROUP BY 1, 2, 3""",
        """SELECT kind, count(*) FROM audit_securityevent WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
           AND kind IN ('login_failed', 'otp_failed', 'alert_spraying', 'alert_refusals') GROUP BY 1""",
        """SELECT e.occurred_at, e.actor_label, e.action, e.after, u.username, u.first_name, u.last_name
           FROM audit_auditevent e LEFT JOIN ops_user u ON e.subject_type = 'ops.user' AND u.id::text = e.subject_id
           WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s AND e.action IN ({roles})
           ORDER BY e.occurred_at LIMIT 100""",
        # the first page, each row naming its subject (a staff member, a client or a work item)
        f"""WITH e AS (SELECT occurred_at, actor_label, action, subject_type, subject_id, before, after, reason,
                        CASE WHEN subject_id ~ '^[0-9]+$' THEN subject_id::bigint END AS sid
                      FROM audit_auditevent WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
                      AND ({{selected}}) ORDER BY occurred_at, id LIMIT 200)
           SELECT e.*, u.username, u.first_name, u.last_name, {_CLIENT_NAME}, w.title FROM e
           LEFT JOIN ops_user u ON e.subject_type = 'ops.user' AND u.id = e.sid
           LEFT JOIN accounts_client c ON e.subject_type = 'accounts.client' AND c.id = e.sid
           LEFT JOIN ops_workitem w ON e.subject_type = 'ops.workitem' AND w.id = e.sid""",
    ],
    "partners": [
        # the attributions in force at the end (one per client at most: they never overlap)
        """SELECT p.name, count(*), count(*) FILTER (WHERE a.valid_from >= %(start)s)
           FROM ib_attribution a JOIN ib_partner p ON p.id = a.partner_id
           WHERE a.valid_from < %(end)s AND (a.valid_to IS NULL OR a.valid_to > %(end)s) GROUP BY p.name""",
        """SELECT date_trunc('month', earned_on), level, currency, sum(amount), count(*) FROM ib_commissionline
           WHERE earned_on >= %(date_from)s AND earned_on <= %(date_to)s AND partner_id IS NOT NULL GROUP BY 1, 2, 3""",
        """SELECT count(*), count(*) FILTER (WHERE status = 'resolved') FROM ib_dispute
           WHERE created_at >= %(start)s AND created_at < %(end)s""",
        """SELECT resolution, count(*) FROM ib_dispute WHERE created_at >= %(start)s AND created_at < %(end)s
           AND status = 'resolved' GROUP BY 1""",
        "SELECT created_at FROM ib_dispute WHERE status <> 'resolved'",
        "SELECT name, code, depth, status FROM ib_partner ORDER BY path LIMIT 200",
        f"""SELECT l.earned_on, p.name, l.level, l.kind, {_CLIENT_NAME}, l.amount, l.currency, l.status
           FROM ib_commissionline l LEFT JOIN ib_partner p ON p.id = l.partner_id
           LEFT JOIN accounts_client c ON c.id = l.client_id
           WHERE l.earned_on >= %(date_from)s AND l.earned_on <= %(date_to)s AND l.partner_id IS NOT NULL
           ORDER BY l.earned_on, l.id LIMIT 200""",
    ],
    "operations": [
        """SELECT q.name, count(*), count(*) FILTER (WHERE w.due_at < %(now)s),
             count(*) FILTER (WHERE w.created_at > %(now)s - interval '1 day'),
             count(*) FILTER (WHERE w.created_at <= %(now)s - interval '1 day'
                              AND w.created_at > %(now)s - interval '3 days'),
             count(*) FILTER (WHERE w.created_at <= %(now)s - interval '3 days'
                              AND w.created_at > %(now)s - interval '7 days'),
             count(*) FILTER (WHERE w.created_at <= %(now)s - interval '7 days')
           FROM ops_workitem w JOIN ops_queue q ON q.id = w.queue_id
           WHERE w.status IN ('open', 'in_progress', 'waiting_on_client') GROUP BY q.name""",
        """SELECT q.name, date_trunc(%(trunc)s, w.resolved_at AT TIME ZONE %(tz)s), u.username, u.first_name,
             u.last_name, count(*), count(*) FILTER (WHERE w.resolved_at > w.due_at)
           FROM ops_workitem w JOIN ops_queue q ON q.id = w.queue_id LEFT JOIN ops_user u ON u.id = w.resolved_by_id
           WHERE w.status = 'resolved' AND w.resolved_at >= %(start)s AND w.resolved_at < %(end)s
           GROUP BY 1, 2, 3, 4, 5""",
        "SELECT count(*) FROM ops_workitem WHERE created_at >= %(start)s AND created_at < %(end)s",
        """SELECT q.name, w.title, w.status, o.username, o.first_name, o.last_name, w.created_at, w.due_at,
             w.resolved_at, r.username, r.first_name, r.last_name, w.resolution_code
           FROM ops_workitem w JOIN ops_queue q ON q.id = w.queue_id LEFT JOIN ops_user o ON o.id = w.owner_id
           LEFT JOIN ops_user r ON r.id = w.resolved_by_id
           WHERE w.created_at >= %(start)s AND w.created_at < %(end)s ORDER BY w.created_at, w.id LIMIT 200""",
    ],
    "balances": [
        # client money as of the end of the period: the kept balances less the postings made since
        """SELECT k, c, sum(t), sum(n) FROM (
             SELECT a.kind AS k, a.currency AS c, b.ledger AS t, b.postings_count AS n FROM payments_balance b
             JOIN payments_ledgeraccount a ON a.id = b.account_id WHERE a.kind IN ({money_kinds})
             UNION ALL
             SELECT a.kind, a.currency, b.ledger, b.postings_count FROM payments_balancebucket b
             JOIN payments_ledgeraccount a ON a.id = b.account_id WHERE a.kind IN ({money_kinds})
             UNION ALL
             SELECT a.kind, p.currency, CASE WHEN a.kind IN ({debit_normal}) THEN -p.amount ELSE p.amount END, -1
             FROM payments_posting p JOIN payments_journalentry e ON e.id = p.entry_id
             JOIN payments_ledgeraccount a ON a.id = p.account_id
             WHERE e.created_at >= %(end)s AND a.kind IN ({money_kinds})) s
           GROUP BY k, c""",
        "SELECT count(*) FROM accounts_tradingaccount WHERE login IS NOT NULL",
        "SELECT found_at FROM payments_reconciliationbreak WHERE resolved_at IS NULL",
        "SELECT booked_on FROM payments_statementline WHERE status IN ('new', 'suspense') AND booked_on <= %(date_to)s",
        "SELECT settled_on FROM payments_settlementline WHERE status = 'new' AND settled_on <= %(date_to)s",
        f"""SELECT {_CLIENT_NAME}, t.login, y.name, t.currency, coalesce(b.ledger - b.held, 0)
           FROM accounts_tradingaccount t JOIN accounts_client c ON c.id = t.client_id
           JOIN accounts_accounttype y ON y.id = t.account_type_id
           LEFT JOIN payments_ledgeraccount a ON a.trading_account_id = t.id AND a.kind = 'trading'
           LEFT JOIN payments_balance b ON b.account_id = a.id
           WHERE t.login IS NOT NULL ORDER BY c.reference, t.login LIMIT 200""",
    ],
}


def _bare_sql() -> dict[str, list[str]]:
    """BARE with the lists the reports share with the audit trail's classification spelled out."""
    from audit.actions import ADMIN_PREFIXES, ROLE_ACTIONS, SENSITIVE_ACTIONS
    from payments.models import CLIENT_KINDS, DEBIT_NORMAL, AccountKind

    def quoted(values: Any) -> str:
        return ", ".join(f"'{v}'" for v in values)  # the code's own constants, not input

    def like(prefix: str) -> str:
        return "action LIKE '" + prefix.replace("_", "\\_") + "%%'"

    admin = " OR ".join(like(p) for p in ADMIN_PREFIXES)
    selected = f"{admin} OR action IN ({quoted(SENSITIVE_ACTIONS)})"
    values = {
        "oversight": f"{selected} OR action IN ({quoted(ROLE_ACTIONS)})",
        "roles": quoted(ROLE_ACTIONS),
        "selected": selected,
        "money_kinds": quoted((*CLIENT_KINDS, AccountKind.BANK, AccountKind.PSP_CLEARING)),
        "debit_normal": quoted(DEBIT_NORMAL),
    }
    return {family: [sql.format(**values) if "{" in sql else sql for sql in sqls] for family, sqls in BARE.items()}


def _bare_params() -> dict[str, Any]:
    """The default filters' period, as the reports read them."""
    from datetime import date, timedelta

    from django.conf import settings
    from django.utils import timezone

    from reporting.filters import ReportFilter, filters_from
    from reporting.metrics import start_of

    bar = ReportFilter({})
    bar.is_valid()
    f = filters_from(bar)
    summed = _one("SELECT through FROM reporting_summarymark WHERE name = 'net_deposit_days'") or date.min
    summed = min(summed, f.date_to)
    return {
        "start": f.start, "end": f.end, "date_from": f.date_from, "date_to": f.date_to,
        "horizon": f.date_to + timedelta(days=30), "now": timezone.now(), "tz": settings.TIME_ZONE, "trunc": "week",
        "summed": summed, "tail": max(f.start, start_of(summed + timedelta(days=1))) if summed >= f.date_from else f.start,
    }  # fmt: skip


# Each generated set is a realistic share of the clients: sizes per 100,000 clients at scale 1.
STAFF = 12  # account managers, reviewers and resolvers
DOCUMENTS_PER_CLIENT = 3  # identity, address, suitability; a tenth of the clients also had one rejected
WORK_ITEMS = 150_000  # about one and a half per client over the 180 days, 1 in 20 still open
POSTINGS_PER_WITHDRAWAL = 10  # 100,000 withdrawals, two per approved client: about one per four deposits
ATTRIBUTED = 0.4  # the share of clients introduced by a partner; each of their deals earns two lines
PARTNER_SHAPE = (4, 8, 8)  # masters, then children under each: 292 partners, 256 introducing ones
QUEUES = ["kyc_review"] * 8 + ["withdrawal_approval"] * 4 + ["deposit_exception", "screening_hit", "edd",
          "client_follow_up", "reconciliation_break", "ib_dispute", "risk_alert"]  # fmt: skip

CLIENTS_SQL = """
INSERT INTO accounts_client (reference, kind, status, first_name, last_name, date_of_birth, nationality,
    legal_name, registration_number, country, address_line, city, postcode, email, phone, segment, tags,
    account_manager_id, risk_level, source_of_funds, account_type_id, base_currency, created_at, status_changed_at)
SELECT 'B' || lpad(g::text, 9, '0'), 'individual',
    CASE WHEN g %% 2 = 0 THEN 'approved' WHEN g %% 20 = 1 THEN 'pending_documents' ELSE 'registered' END,
    'Bench', 'Client ' || g, date '1980-01-01' + (g %% 9000), 'GB', '', '',
    (ARRAY['GB','DE','FR','ES','SG','AE','US','AU'])[1 + g %% 8], '', '', '', 'bench' || g || '@bench.invalid',
    '+44' || lpad(g::text, 10, '0'), 'retail', '{}', (%(staff)s::bigint[])[1 + g %% cardinality(%(staff)s::bigint[])],
    (ARRAY['low','low','medium','high'])[1 + g %% 4], 'salary', %(type)s, 'EUR',
    now() - ((g %% 180) || ' days')::interval, now()
FROM generate_series(%(first)s, %(last)s) AS g
"""
# a wallet's balance row as the ledger makes it: never below zero (the database checks it as the loads move it)
ACCOUNTS_SQL = [
    """INSERT INTO accounts_tradingaccount (client_id, account_type_id, currency, leverage, platform_group, status,
         login, provision_key, provision_error, created_at, book)
       SELECT id, account_type_id, 'EUR', 100, 'bench', 'active', 'B' || id, gen_random_uuid(), '', created_at, 'b'
       FROM accounts_client WHERE reference LIKE 'B0%%'""",
    """INSERT INTO payments_ledgeraccount (code, kind, currency, name, client_id, external_ref, created_at)
       SELECT 'bench:wallet:' || id, 'client_wallet', 'EUR', 'bench wallet', id, '', now()
       FROM accounts_client WHERE reference LIKE 'B0%%'""",
    """INSERT INTO payments_balance (account_id, currency, ledger, held, non_negative, sign, postings_count, updated_at)
       SELECT id, 'EUR', 0, 0, true, -1, 0, now() FROM payments_ledgeraccount WHERE code LIKE 'bench:wallet:%%'""",
    """INSERT INTO ib_dealbatch (source, filename, raw, sha256, rows_total, rows_new, rows_duplicate, rows_rejected,
         rejections, received_by, received_at)
       VALUES ('file', 'bench.csv', '', repeat('0', 64), 0, 0, 0, 0, '[]', 'bench', now())""",
]
ENTRIES_SQL = """
WITH entry AS (
    INSERT INTO payments_journalentry (idempotency_key, request_hash, kind, memo, source, actor_label, created_at)
    SELECT 'bench-report:' || g, '', 'deposit', 'bench deposit', 'bench', 'system:bench',
           now() - ((g %% 180) || ' days')::interval - ((g %% 86400) || ' seconds')::interval
    FROM generate_series(%(first)s, %(last)s) AS g RETURNING id, created_at)
INSERT INTO payments_posting (entry_id, account_id, currency, amount)
SELECT entry.id, CASE WHEN line.sign < 0 THEN %(wallet)s + entry.id %% %(clients)s ELSE %(clearing)s END, 'EUR',
       line.sign * (100 + entry.id %% 900)
FROM entry CROSS JOIN (VALUES (-1), (1)) AS line(sign)
"""
# the balances the ledger keeps beside its postings (a wallet's row; the clearing account's row, as a
# house account's share of its balance), moved by the loaded postings as the ledger service moves them
BALANCES_SQL = """
UPDATE payments_balance b SET ledger = b.ledger + b.sign * s.total, postings_count = b.postings_count + s.n
FROM (SELECT p.account_id, sum(p.amount) AS total, count(*) AS n FROM payments_posting p
      JOIN payments_journalentry e ON e.id = p.entry_id WHERE e.idempotency_key LIKE %(keys)s
      GROUP BY p.account_id) s
WHERE b.account_id = s.account_id
"""
DEPOSITS_SQL = """
INSERT INTO payments_deposit (reference, client_id, channel, amount, currency, status, payer_name, payer_account,
    review_reason, failure_code, failure_message, refund_reference, request_hash, provider, psp_intent_id,
    checkout_url, created_at, completed_at)
SELECT 'BD' || g, %(client)s + g %% %(clients)s, 'card', 100 + g %% 900, 'EUR',
       CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'credited' END, '', '', '',
       CASE WHEN g %% 10 = 0 THEN 'card_declined' ELSE '' END, '', '', '', 'simpay', '', '',
       now() - ((g %% 180) || ' days')::interval, now() - ((g %% 180) || ' days')::interval
FROM generate_series(%(first)s, %(last)s) AS g
"""
# Withdrawal g's request time, how long it takes to be paid (an hour to six for the automatic 2 in 7,
# six hours to five days for those a person reviews) and what had become of it by ``now``: 2 in 19
# rejected, 1 in 19 failed at the PSP, the rest paid; those not yet decided under review (and 1 in
# 19 of the last week's, waiting on the client), those decided but not yet paid with the PSP. Moduli
# prime to 180, so that each share is spread over the days. The paid count and the load share these.
WITHDRAWAL_SHAPE = """
CROSS JOIN LATERAL (SELECT g %% 19 AS u,
    %(now)s - ((g %% 180) || ' days')::interval - ((g * 7919 %% 86400) || ' seconds')::interval AS created,
    (CASE WHEN g %% 7 < 2 THEN 1 + g %% 13 %% 6 ELSE 6 + g %% 113 END) * interval '1 hour' AS takes) t
CROSS JOIN LATERAL (SELECT CASE
    WHEN t.u IN (1, 2) THEN CASE WHEN t.created + t.takes / 2 <= %(now)s THEN 'rejected' ELSE 'under_review' END
    WHEN t.u = 0 AND t.created > %(now)s - interval '7 days' THEN 'under_review'
    WHEN t.created + t.takes / 4 > %(now)s THEN 'under_review'
    WHEN t.created + t.takes > %(now)s THEN 'processing'
    WHEN t.u = 3 THEN 'failed' ELSE 'paid' END AS status) s
"""
PAID_WITHDRAWALS_SQL = (
    "SELECT count(*) FROM generate_series(1, %(withdrawals)s) AS g" + WITHDRAWAL_SHAPE + "WHERE s.status = 'paid'"
)
# Each withdrawal by an approved client (``per_client`` at most each), its amount at most
# 1/(per_client + 1) of what the deposits left in the wallet; its hold on the wallet; for a paid
# one, the entry of two postings the payout posts (the wallet debited, the clearing account credited).
WITHDRAWALS_SQL = (
    """
WITH approved AS MATERIALIZED (
    SELECT c.id, c.first_name || ' ' || c.last_name AS name, a.id AS wallet, b.ledger,
           row_number() OVER (ORDER BY c.id) - 1 AS k
    FROM accounts_client c JOIN payments_ledgeraccount a ON a.code = 'bench:wallet:' || c.id
    JOIN payments_balance b ON b.account_id = a.id
    WHERE c.reference LIKE 'B0%%' AND c.status = 'approved'),
w AS MATERIALIZED (
    SELECT g, 'BW' || g AS reference, c.id AS client_id, c.name, c.wallet, t.created, t.takes, s.status,
           g %% 7 < 2 AS fast,
           greatest(1, least(100 + g %% 500, floor(c.ledger / (%(per_client)s + 1)))) AS amount
    FROM generate_series(%(first)s, %(last)s) AS g"""
    + WITHDRAWAL_SHAPE
    + """    JOIN approved c ON c.k = g %% (SELECT count(*) FROM approved)),
hold AS (
    INSERT INTO payments_hold (account_id, amount, status, reason, created_at, closed_at)
    SELECT wallet, amount,
           CASE status WHEN 'paid' THEN 'captured' WHEN 'rejected' THEN 'released' WHEN 'failed' THEN 'released'
                ELSE 'active' END,
           'withdrawal ' || reference, created,
           CASE status WHEN 'paid' THEN created + takes WHEN 'rejected' THEN created + takes / 2
                WHEN 'failed' THEN least(%(now)s, created + takes) END
    FROM w RETURNING id, reason),
entry AS (
    INSERT INTO payments_journalentry (idempotency_key, request_hash, kind, memo, source, actor_label, created_at)
    SELECT 'bench-report-wd:' || g, '', 'withdrawal', reference || ' paid (BPAY' || g || ')', 'bench', 'system:bench',
           created + takes
    FROM w WHERE status = 'paid' RETURNING id, idempotency_key),
posting AS (
    INSERT INTO payments_posting (entry_id, account_id, currency, amount)
    SELECT entry.id, CASE WHEN line.sign > 0 THEN w.wallet ELSE %(clearing)s END, 'EUR', line.sign * w.amount
    FROM entry JOIN w ON entry.idempotency_key = 'bench-report-wd:' || w.g CROSS JOIN (VALUES (1), (-1)) AS line(sign))
INSERT INTO payments_withdrawal (reference, client_id, source_id, amount, currency, method, destination,
    destination_name, status, checks, flags, approval, hold_id, payout_key, voucher, entry_id, reason_code,
    failure_code, request_hash, created_at, decided_at, paid_at)
SELECT w.reference, w.client_id, w.wallet, w.amount, 'EUR', 'card', 'bench-card-' || w.client_id, w.name, w.status,
       '[]', '[]', CASE WHEN w.fast AND w.status NOT IN ('under_review', 'rejected') THEN 'auto' ELSE 'finance' END,
       hold.id, gen_random_uuid(), CASE WHEN w.status IN ('paid', 'failed', 'processing') THEN 'BPAY' || w.g ELSE '' END,
       entry.id,
       CASE WHEN w.status = 'rejected'
            THEN (ARRAY['kyc_incomplete','source_of_funds','third_party_destination','method_mismatch'])[1 + w.g %% 4]
            ELSE '' END,
       CASE WHEN w.status = 'failed' THEN (ARRAY['account_closed','card_expired','do_not_honor'])[1 + w.g %% 3]
            ELSE '' END,
       '', w.created,
       CASE WHEN w.status = 'rejected' THEN w.created + w.takes / 2
            WHEN w.status <> 'under_review' THEN w.created + w.takes / 4 END,
       CASE WHEN w.status = 'paid' THEN w.created + w.takes END
FROM w JOIN hold ON hold.reason = 'withdrawal ' || w.reference
LEFT JOIN entry ON entry.idempotency_key = 'bench-report-wd:' || w.g
"""
)
# the funds still held for the withdrawals under review or with the PSP
HELD_SQL = """
UPDATE payments_balance b SET held = b.held + s.total
FROM (SELECT account_id, sum(amount) AS total FROM payments_hold WHERE status = 'active' AND reason LIKE 'withdrawal BW%%'
      GROUP BY account_id) s
WHERE b.account_id = s.account_id
"""
DEALS_SQL = """
INSERT INTO ib_deal (deal_id, login, trading_account_id, client_id, symbol, side, lots, opened_at, closed_at, spread,
    commission, swap, profit, currency, batch_id, fingerprint, received_at)
SELECT 'BDEAL' || g, 'B' || t.client_id, t.id, t.client_id, 'EURUSD', 'buy', 1,
       now() - ((g %% 180) || ' days')::interval - interval '1 hour', now() - ((g %% 180) || ' days')::interval,
       0, 0, 0, 0, 'EUR', %(batch)s, '', now()
FROM generate_series(%(first)s, %(last)s) AS g
JOIN accounts_tradingaccount t ON t.id = %(account)s + g %% %(clients)s
"""
# one approval per approved client, hours after its registration (the compliance officer's)
APPROVALS_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, before,
    after, reason, request_id)
SELECT least(now(), c.created_at + ((1 + c.id %% 71) || ' hours')::interval), 'staff', '1', 'compliance',
       'client.approved', 'accounts.client', c.id::text, '{"status": "pending_review"}', '{"status": "approved"}',
       'bench', ''
FROM accounts_client c WHERE c.reference LIKE 'B0%%' AND c.status = 'approved'
"""
# the rest of the trail: staff working the queues, client records updated (sensitive modifications),
# role grants (administrator operations), a few closings
AUDIT_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, before,
    after, reason, request_id)
SELECT now() - ((g %% 180) || ' days')::interval, 'staff', '1', (ARRAY['admin','admin2','finance','compliance'])[1 + g %% 4],
       CASE WHEN g %% 1000 = 1 THEN 'client.closed' WHEN g %% 2 = 0 THEN 'work_item.resolved'
            WHEN g %% 7 = 0 THEN 'staff.role_granted' WHEN g %% 5 = 0 THEN 'client.updated' ELSE 'work_item.claimed' END,
       CASE WHEN g %% 1000 = 1 THEN 'accounts.client' WHEN g %% 2 = 0 THEN 'ops.workitem'
            WHEN g %% 7 = 0 THEN 'ops.user' WHEN g %% 5 = 0 THEN 'accounts.client' ELSE 'ops.workitem' END,
       (CASE WHEN g %% 1000 = 1 OR (g %% 2 = 1 AND g %% 7 <> 0 AND g %% 5 = 0) THEN %(client)s + (g / 2) %% %(clients)s
             WHEN g %% 2 = 1 AND g %% 7 = 0 THEN (%(staff)s::bigint[])[1 + g %% cardinality(%(staff)s::bigint[])]
             ELSE %(item)s + g %% %(items)s END)::text,
       '{"field": "before"}', '{"field": "after"}', 'bench', ''
FROM generate_series(%(first)s, %(last)s) AS g
"""
SECURITY_SQL = """
INSERT INTO audit_securityevent (occurred_at, kind, username, ip, user_agent, method, path, status, reason, request_id)
SELECT now() - ((g %% 180) || ' days')::interval - ((g %% 86400) || ' seconds')::interval,
       (ARRAY['login_failed','login_failed','otp_failed','refused','not_found','alert_spraying'])[1 + g %% 6],
       'user' || g %% 500, '10.0.0.1', 'bench', 'POST', '/login/', 401, '', ''
FROM generate_series(%(first)s, %(last)s) AS g
"""
DOCUMENTS_SQL = """
INSERT INTO kyc_document (client_id, kind, file, view_file, original_name, content_type, size, sha256, number,
    issue_date, expiry_date, status, rejection_reason, review_note, uploaded_at, uploaded_by, reviewed_at,
    reviewed_by_id, reminders)
SELECT c.id, k.kind, 'bench/' || c.id || '/' || k.n, '', k.kind || '.pdf', 'application/pdf', 100000, repeat('0', 64),
       '', CASE WHEN k.n = 1 THEN date '2018-01-01' + (c.id %% 2000)::int END,
       CASE WHEN k.n = 1 THEN current_date - 60 + (c.id %% 3650)::int END,
       CASE WHEN k.n = 0 THEN 'rejected' WHEN c.status = 'approved' THEN 'accepted' ELSE 'pending' END,
       CASE WHEN k.n = 0 THEN (ARRAY['blurred','address_mismatch','name_mismatch','expired','other'])[1 + c.id %% 5]
            ELSE '' END, '',
       least(now(), c.created_at + (k.n * 10 || ' minutes')::interval), 'client',
       CASE WHEN k.n = 0 OR c.status = 'approved' THEN least(now(), c.created_at + interval '1 hour') END,
       CASE WHEN k.n = 0 OR c.status = 'approved'
            THEN (%(staff)s::bigint[])[1 + c.id %% cardinality(%(staff)s::bigint[])] END, '{}'
FROM accounts_client c
CROSS JOIN (VALUES (0, 'proof_of_address'), (1, 'proof_of_identity'), (2, 'proof_of_address'),
                   (3, 'suitability_questionnaire')) AS k(n, kind)
WHERE c.reference LIKE 'B0%%' AND (k.n > 0 OR c.id %% 10 = 0)
"""
SCREENING_SQL = """
INSERT INTO kyc_screeninghit (client_id, version_id, entry_id, entry_data_hash, entry_name, matched_name, score,
    name_score, dob_match, country_match, status, decided_by_id, decision_reason, decided_at, created_at)
SELECT c.id, %(version)s, 'bench-' || c.id, repeat('0', 64), 'Listed Person', c.first_name || ' ' || c.last_name,
       80 + c.id %% 20, 80 + c.id %% 20, null, null,
       (ARRAY['false_positive','false_positive','false_positive','open','true_match'])[1 + c.id %% 5],
       CASE WHEN c.id %% 5 <> 3 THEN (%(staff)s::bigint[])[1 + c.id %% cardinality(%(staff)s::bigint[])] END,
       '', CASE WHEN c.id %% 5 <> 3 THEN c.created_at + interval '2 hours' END, c.created_at + interval '5 minutes'
FROM accounts_client c WHERE c.reference LIKE 'B0%%' AND c.id %% 50 = 0
"""
# work items over the queues, spread over 180 days; a twentieth still open (some past due), the
# rest resolved by a staff member, some after their due time
WORK_ITEMS_SQL = """
INSERT INTO ops_workitem (queue_id, subject_type_id, subject_id, title, details, risk_level, amount_at_stake, status,
    owner_id, due_at, urgency_at, escalation_level, resolution_code, resolution_note, resolved_at, resolved_by_id,
    created_at, updated_at)
SELECT q.id, %(client_type)s, (%(client)s + g %% %(clients)s)::text, 'Bench item ' || g, '{}',
       (ARRAY['low','low','medium','high'])[1 + g %% 4], 0, w.status,
       CASE WHEN w.status <> 'open' THEN w.staff END, w.created + q.sla_minutes * interval '1 minute',
       CASE WHEN w.status <> 'resolved' THEN w.created + q.sla_minutes * interval '1 minute' END, 0,
       CASE WHEN w.status = 'resolved' THEN (ARRAY['approved','rejected','fixed','no_action'])[1 + g %% 4] ELSE '' END,
       '', CASE WHEN w.status = 'resolved'
                THEN least(now(), w.created + q.sla_minutes * (0.1 + (g %% 12) / 10.0) * interval '1 minute') END,
       CASE WHEN w.status = 'resolved' THEN w.staff END, w.created, now()
FROM generate_series(%(first)s, %(last)s) AS g
CROSS JOIN LATERAL (SELECT
    CASE WHEN g %% 20 = 0 THEN 'open' WHEN g %% 40 = 1 THEN 'in_progress' ELSE 'resolved' END AS status,
    (%(staff)s::bigint[])[1 + (g / 7) %% cardinality(%(staff)s::bigint[])] AS staff,
    now() - ((g %% 180) || ' days')::interval - ((g %% 86400) || ' seconds')::interval AS created) w
JOIN ops_queue q ON q.code = (%(queues)s::text[])[1 + g %% cardinality(%(queues)s::text[])]
ON CONFLICT DO NOTHING
"""
ATTRIBUTIONS_SQL = """
WITH leaves AS (SELECT array_agg(id ORDER BY path) AS ids FROM ib_partner WHERE code LIKE 'RP%%' AND numchild = 0)
INSERT INTO ib_attribution (client_id, partner_id, campaign, source, valid_from, reason, created_at)
SELECT c.id, leaves.ids[1 + c.id %% cardinality(leaves.ids)], '', 'referral', c.created_at, '', c.created_at
FROM accounts_client c, leaves WHERE c.reference LIKE 'B0%%' AND c.id %% 100 < %(attributed)s
"""
# every deal of an attributed client earns its introducing partner (level 0) and that one's parent
LINES_SQL = """
INSERT INTO ib_commissionline (kind, deal_id, client_id, partner_id, level, earned_on, base_amount, base_currency,
    fx_rate, amount, currency, tree, status, available_on, created_at)
SELECT 'deal', d.id, d.client_id, CASE WHEN l.level = 0 THEN leaf.id ELSE parent.id END, l.level,
       d.closed_at::date, 8, 'EUR', 1, CASE WHEN l.level = 0 THEN 4.80 ELSE 3.20 END, 'EUR', ARRAY[leaf.id, parent.id],
       CASE WHEN d.closed_at < now() - interval '37 days' THEN 'paid'
            WHEN d.closed_at < now() - interval '7 days' THEN 'available' ELSE 'pending' END,
       d.closed_at::date + 7, d.closed_at
FROM ib_deal d
JOIN ib_attribution a ON a.client_id = d.client_id
JOIN ib_partner leaf ON leaf.id = a.partner_id AND leaf.code LIKE 'RP%%'
JOIN ib_partner parent ON parent.path = substr(leaf.path, 1, length(leaf.path) - 4)
CROSS JOIN (VALUES (0), (1)) AS l(level)
WHERE d.id BETWEEN %(deal)s + %(first)s - 1 AND %(deal)s + %(last)s - 1
"""
DISPUTES_SQL = """
INSERT INTO ib_dispute (reference, partner_id, line_id, deal_id, claim, raised_by, status, resolution, resolution_note,
    created_at, resolved_at)
SELECT 'BDSP' || l.id, l.partner_id, l.id, l.deal_id, 'Rate applied is wrong', 'bench',
       CASE WHEN l.id %% 5 = 0 THEN 'open' ELSE 'resolved' END,
       CASE WHEN l.id %% 5 = 0 THEN '' ELSE (ARRAY['correct','adjusted','outside_plan','withdrawn'])[1 + l.id %% 4] END,
       '', l.created_at + interval '3 days',
       CASE WHEN l.id %% 5 <> 0 THEN least(now(), l.created_at + interval '10 days') END
FROM ib_commissionline l JOIN ib_partner p ON p.id = l.partner_id AND p.code LIKE 'RP%%'
WHERE l.id %% 1000 = 0 AND l.created_at < now() - interval '3 days'
"""
TABLES = (
    "accounts_client, payments_posting, payments_journalentry, payments_deposit, ib_deal, audit_auditevent,"
    " payments_ledgeraccount, payments_balance, accounts_tradingaccount, audit_securityevent, kyc_document,"
    " kyc_screeninghit, ops_workitem, ops_user, ib_partner, ib_attribution, ib_commissionline, ib_dispute,"
    " reporting_netdepositday, payments_withdrawal, payments_hold"
)


def _superuser() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def _chunks(sql: str, total: int, params: dict[str, Any]) -> None:
    for first in range(1, total + 1, CHUNK):
        _run(sql, {**params, "first": first, "last": min(total, first + CHUNK - 1)})


def _run(sql: str, params: dict[str, Any]) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if _superuser():  # append-only and balanced-entry triggers (the loaded entries balance by construction)
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)  # always with parameters, so that %% is a literal %


def _one(sql: str, params: dict[str, Any] | None = None) -> Any:
    return _all(sql, params)[0][0]


def _all(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params if params is not None else [])
        return cursor.fetchall()


def _partners() -> None:
    """The bench's partner tree (codes RP...): PARTNER_SHAPE children per level, as treebeard paths."""
    from django.db import connection

    from bench.commissions import _step

    rows: list[tuple[str, int, int, str, str]] = []

    def add(prefix: str, depth: int) -> None:
        for k in range(1, PARTNER_SHAPE[depth - 1] + 1):
            path = prefix + _step(k + 1000 * (depth == 1))  # roots apart from other benches' trees
            children = PARTNER_SHAPE[depth] if depth < len(PARTNER_SHAPE) else 0
            rows.append((path, depth, children, f"Report partner {path}", f"RP{path}"))
            if children:
                add(path, depth + 1)

    add("", 1)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ib_partner (path, depth, numchild, name, code, email, status, created_at)"
            " VALUES (%s, %s, %s, %s, %s, '', 'active', now() - interval '365 days')",
            rows,
        )


def load(*, scale: float) -> dict[str, int]:
    """Load the bench data once per database (a second run finds it and loads nothing)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from accounts.models import AccountType, Client
    from kyc.models import SanctionsListVersion
    from ops.models import User
    from payments.services.ledger import psp_clearing_account
    from reporting.services import net_deposit_days_refresh

    sizes = {
        "clients": max(100, int(CLIENTS * scale)),
        "postings": max(200, int(POSTINGS * scale)),
        "deals": max(100, int(DEALS * scale)),
        "audit": max(100, int(AUDIT * scale)),
        "work_items": max(100, int(WORK_ITEMS * scale)),
        "security_events": max(100, int(CLIENTS * scale) // 20),
        "withdrawals": max(20, int(POSTINGS * scale) // POSTINGS_PER_WITHDRAWAL),
    }
    if Client.objects.filter(reference__startswith="B0").exists():
        return sizes
    started = time.monotonic()
    staff = [
        User.objects.get_or_create(
            username=f"bench-staff-{i}", defaults={"first_name": "Bench", "last_name": f"Staff {i}"}
        )[0].pk
        for i in range(1, STAFF + 1)
    ]
    account_type = AccountType.objects.get(code="standard")
    with transaction.atomic():
        clearing = psp_clearing_account("EUR", "simpay")
        version = SanctionsListVersion.objects.create(
            name="bench list", source_file="bench.xml", sha256="0" * 64, status="complete", imported_by="bench"
        )
    n = sizes["clients"]
    _chunks(CLIENTS_SQL, n, {"staff": staff, "type": account_type.pk})
    for sql in ACCOUNTS_SQL:
        _run(sql, {})
    first_client = _one("SELECT min(id) FROM accounts_client WHERE reference LIKE 'B0%%'")
    first_wallet = _one("SELECT min(id) FROM payments_ledgeraccount WHERE code LIKE 'bench:wallet:%%'")
    first_account = _one("SELECT min(id) FROM accounts_tradingaccount WHERE platform_group = 'bench'")
    batch = _one("SELECT max(id) FROM ib_dealbatch WHERE received_by = 'bench'")
    now = _one("SELECT now()")
    # the postings budget: the paid withdrawals' two each, the deposits' two each for the rest
    paid = _one(PAID_WITHDRAWALS_SQL, {"withdrawals": sizes["withdrawals"], "now": now})
    deposits = max(n, sizes["postings"] // 2 - paid)
    _chunks(ENTRIES_SQL, deposits, {"wallet": first_wallet, "clients": n, "clearing": clearing.pk})
    _run(BALANCES_SQL, {"keys": "bench-report:%"})
    _chunks(DEPOSITS_SQL, deposits, {"client": first_client, "clients": n})
    approved = _one("SELECT count(*) FROM accounts_client WHERE reference LIKE 'B0%%' AND status = 'approved'")
    _chunks(
        WITHDRAWALS_SQL, sizes["withdrawals"],
        {"now": now, "per_client": -(-sizes["withdrawals"] // approved), "clearing": clearing.pk},
    )  # fmt: skip
    _run(BALANCES_SQL, {"keys": "bench-report-wd:%"})
    _run(HELD_SQL, {})
    _chunks(DEALS_SQL, sizes["deals"], {"batch": batch, "account": first_account, "clients": n})
    client_type = ContentType.objects.get_by_natural_key("accounts", "client").pk
    first_item = _one("SELECT coalesce(max(id), 0) + 1 FROM ops_workitem")
    _chunks(
        WORK_ITEMS_SQL, sizes["work_items"],
        {"client": first_client, "clients": n, "client_type": client_type, "staff": staff, "queues": QUEUES},
    )  # fmt: skip
    _run(APPROVALS_SQL, {})
    approvals = _one("SELECT count(*) FROM accounts_client WHERE reference LIKE 'B0%%' AND status = 'approved'")
    _chunks(
        AUDIT_SQL, max(0, sizes["audit"] - approvals),
        {"client": first_client, "clients": n, "staff": staff, "item": first_item, "items": sizes["work_items"]},
    )  # fmt: skip
    _chunks(SECURITY_SQL, sizes["security_events"], {})
    _run(DOCUMENTS_SQL, {"staff": staff})
    _run(SCREENING_SQL, {"staff": staff, "version": version.pk})
    _partners()
    _run(ATTRIBUTIONS_SQL, {"attributed": int(ATTRIBUTED * 100)})
    first_deal = _one("SELECT min(id) FROM ib_deal WHERE deal_id LIKE 'BDEAL%%'")
    _chunks(LINES_SQL, sizes["deals"], {"deal": first_deal})
    _run(DISPUTES_SQL, {})
    net_deposit_days_refresh()  # as beat would have: the days up to yesterday summed
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLES}")
    counts = {
        "documents": _one("SELECT count(*) FROM kyc_document"),
        "commission_lines": _one("SELECT count(*) FROM ib_commissionline"),
        "work_items": _one("SELECT count(*) FROM ops_workitem"),
        "deposits": _one("SELECT count(*) FROM payments_deposit"),
        "withdrawals": dict(_all("SELECT status, count(*) FROM payments_withdrawal GROUP BY 1 ORDER BY 2 DESC")),
        "postings": _one("SELECT count(*) FROM payments_posting"),
    }
    print(f"  loaded {sizes} ({counts}) in {time.monotonic() - started:.1f} s", flush=True)
    return sizes


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def measure(*, repeats: int) -> dict[str, tuple[float, float]]:
    """family -> (report p95, bare aggregate p95), seconds."""
    from django.db import connection

    from reporting.families import FAMILIES
    from reporting.filters import ReportFilter, filters_from
    from reporting.reports import report_build
    from reporting.routers import reporting_reads

    bare = _bare_sql()
    out = {}
    for family in FAMILIES:
        report_times, bare_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            with reporting_reads():
                bar = ReportFilter({})
                bar.is_valid()
                report = report_build(family, filters_from(bar))
                if report.dataset is not None:  # the page's first rows and count, as the page reads them
                    report.dataset.head()
                    report.dataset.count()
            report_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                params = _bare_params()
                for sql in bare[family]:
                    cursor.execute(sql, params)
                    cursor.fetchall()
            bare_times.append(time.perf_counter() - started)
        out[family] = (_p95(report_times), _p95(bare_times))
    return out


def withdrawal_figures() -> str:
    """The payments report's withdrawal figures (default filters), to show they were measured over
    withdrawals: how many were paid in the period, their processing time, the net deposits."""
    from reporting import metrics
    from reporting.filters import ReportFilter, filters_from
    from reporting.reports import report_build

    bar = ReportFilter({})
    bar.is_valid()
    f = filters_from(bar)
    report = report_build("payments", f)
    kpis = {k.label: k.value for k in report.kpis}
    paid = metrics.processing_seconds(metrics.withdrawals_paid(f.start, f.end))["count"]
    net = next(t for t in report.tables if t.testid == "net-deposits")
    return (
        f"{paid:,} paid in the period, processing average {kpis['Average withdrawal processing']}, "
        f"p90 {kpis['90th percentile withdrawal processing']}; net deposits "
        + "; ".join(f"{c}: deposits {d}, withdrawals {w}, net {x}" for c, d, w, x in net.rows)
    )


def export_child() -> None:
    """In a child process: every audit event through the permissions dataset's shape, as CSV."""
    from bench import setup_django

    setup_django()
    from audit.models import AuditEvent
    from reporting.exports import csv_stream
    from reporting.reports import Dataset

    dataset = Dataset(
        "audit events", ["When", "Staff member", "Operation", "Subject", "Before", "After", "Reason"],
        [(AuditEvent.objects.order_by("id"), lambda e: [e.occurred_at.isoformat(), e.actor_label, e.action,
          f"{e.subject_type}:{e.subject_id}", e.before, e.after, e.reason])],
    )  # fmt: skip
    rows = -1
    started = time.monotonic()  # the stream itself, not the child's start and django.setup()
    with open(os.devnull, "w") as sink:
        for line in csv_stream(dataset):
            sink.write(line)
            rows += 1
    peak_mb = _own_peak_mb()
    print(f"{rows} {time.monotonic() - started:.3f} {peak_mb:.1f}")


def _own_peak_mb() -> float:
    """This process's peak memory: the high-water mark of its own address space (VmHWM). Not
    ru_maxrss, which keeps across exec the peak of the image it replaced, i.e. of the parent it was
    forked from (the bench's main process, after loading and building every report)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export() -> tuple[int, float, float]:
    """(rows, seconds streaming them, the child's peak memory in MB)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--export-child"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[-3]), float(out[-2]), float(out[-1])


def run(*, quick: bool, scale: float | None = None, repeats: int | None = None) -> bool:
    from audit.context import Actor, acting_as

    scale = scale if scale is not None else (QUICK_SCALE if quick else 1.0)
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    with acting_as(Actor.system("bench")):
        load(scale=scale)
    results = measure(repeats=repeats)
    met = True
    print(
        f"  {'report':<12} {'p95':>9} {'bare SQL p95':>13} {'ratio':>7}  goal (<= {GOAL_P95:.0f} s, <= {GOAL_RATIO:.0f}x)"
    )
    for family, (report, bare) in results.items():
        ratio = report / bare if bare else float("inf")
        ok = report <= GOAL_P95 and ratio <= GOAL_RATIO
        met &= ok
        print(
            f"  {family:<12} {report * 1000:>7.1f}ms {bare * 1000:>11.1f}ms {ratio:>6.1f}x  {'met' if ok else 'NOT MET'}"
        )
    print(f"  payments report's withdrawals: {withdrawal_figures()}")
    rows, seconds, peak = export()
    ok = seconds <= GOAL_EXPORT_S * rows / AUDIT and peak <= GOAL_EXPORT_MB  # the goal's rate, at the run's size
    met &= ok
    print(
        f"  CSV export: {rows:,} rows in {seconds:.1f} s (goal {GOAL_EXPORT_S:.0f} s per 1,000,000 rows), "
        f"peak memory {peak:.0f} MB (goal <= {GOAL_EXPORT_MB:.0f} MB): {'met' if ok else 'NOT MET'}"
    )
    return met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports")
    parser.add_argument("--scale", type=float, default=None, help="fraction of the issue's sizes (default 1.0)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--export-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_child:
        export_child()
        return 0
    from bench import setup_django

    setup_django()
    return 0 if run(quick=args.quick, scale=args.scale, repeats=args.repeats) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
