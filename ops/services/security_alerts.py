"""Someone probing, seen in the security log: the alert rules (Celery beat runs them every minute).

- Repeated refusals: a caller (a signed-in staff member, else an IP address) refused
  ``SECURITY_ALERT_REFUSALS`` times within ``SECURITY_ALERT_REFUSALS_WINDOW_SECONDS``.
- Password spraying: failed sign-ins to ``SECURITY_ALERT_SPRAYING_ACCOUNTS_PER_IP`` distinct
  accounts from one address, or to ``SECURITY_ALERT_SPRAYING_ACCOUNTS`` accounts from anywhere,
  within ``SECURITY_ALERT_SPRAYING_WINDOW_SECONDS``.

Each alert is one security log event (kind ``alert_…``, naming the caller) and one work item in
the security alert queue whose record is that event (its page: the log filtered to the caller). At
most one alert per rule and caller per window: the rule looks for its own earlier event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.context import Actor, SecurityNote, acting_as
from audit.models import SecurityEventKind
from audit.selectors import Caller, security_alerts_raised, security_refusal_callers, security_spraying_sources
from audit.services import security_events_write
from ops import errors
from ops.models import RiskLevel, User, WorkItem
from ops.services.work_items import work_item_open

QUEUE = "security_alert"
# One evaluation at a time, so two cannot both raise the same alert ("secalert" in ASCII).
_LOCK_KEY = 0x736563616C657274
WHAT_TO_DO = (
    "open the security log filtered to this caller; if it is not a person's honest mistake, block the address"
    " or deactivate the account, and check what the caller reached"
)


@transaction.atomic(durable=True)
def security_alerts_raise(*, now: datetime | None = None) -> list[WorkItem]:
    """Evaluate the rules over the recent security log; returns the alerts opened now."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    with acting_as(Actor.system("security-alerts")):
        return _repeated_refusals(now) + _password_spraying(now)


def _repeated_refusals(now: datetime) -> list[WorkItem]:
    window = timedelta(seconds=settings.SECURITY_ALERT_REFUSALS_WINDOW_SECONDS)
    minutes = int(window.total_seconds() // 60)
    kind = SecurityEventKind.ALERT_REFUSALS
    earlier = security_alerts_raised(since=now - window)
    raised = []
    for caller in security_refusal_callers(since=now - window, at_least=settings.SECURITY_ALERT_REFUSALS):
        if (kind, caller.actor_id, caller.ip) in earlier:
            continue
        title = errors.ALERT_REPEATED_REFUSALS.format(count=caller.count, minutes=minutes, caller=caller.name)
        raised.append(_alert(kind, caller, title, {"refusals": caller.count}))
    return raised


def _password_spraying(now: datetime) -> list[WorkItem]:
    window = timedelta(seconds=settings.SECURITY_ALERT_SPRAYING_WINDOW_SECONDS)
    minutes = int(window.total_seconds() // 60)
    sources = security_spraying_sources(
        since=now - window,
        per_ip=settings.SECURITY_ALERT_SPRAYING_ACCOUNTS_PER_IP,
        overall=settings.SECURITY_ALERT_SPRAYING_ACCOUNTS,
    )
    kind = SecurityEventKind.ALERT_SPRAYING
    earlier = security_alerts_raised(since=now - window)
    raised = []
    for caller in sources:
        if (kind, caller.actor_id, caller.ip) in earlier:
            continue
        if caller.ip is not None:
            title = errors.ALERT_SPRAYING_FROM_IP.format(accounts=caller.count, minutes=minutes, caller=caller.ip)
        else:
            title = errors.ALERT_SPRAYING_OVERALL.format(accounts=caller.count, minutes=minutes)
        raised.append(_alert(kind, caller, title, {"accounts": list(caller.accounts[:50])}))
    return raised


def _alert(kind: SecurityEventKind, caller: Caller, title: str, details: dict) -> WorkItem:
    actor = User.objects.filter(pk=caller.actor_id).first() if caller.actor_id is not None else None
    [event] = security_events_write(
        [SecurityNote(kind=kind, reason=title, actor=actor, username=caller.username, ip=caller.ip)]
    )
    return work_item_open(
        queue=QUEUE,
        subject=event,
        title=title,
        risk_level=RiskLevel.HIGH,
        details={"caller": caller.name, **details, "what_to_do": WHAT_TO_DO},
    )
