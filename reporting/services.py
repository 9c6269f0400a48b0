"""The one write the reports make on a person's behalf: their snapshot subscriptions."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.actions import AuditAction
from audit.services import audit_record
from reporting.models import Frequency, ReportSubscription
from reporting.selectors import report_can_view


@transaction.atomic(durable=True)
def report_subscription_set(*, user: Any, family: str, frequency: str, subscribed: bool) -> bool:
    """Subscribe ``user`` to (or unsubscribe from) a family's snapshots at ``frequency``; refused
    (PermissionError with the reason) when the family is not theirs to open."""
    decision = report_can_view(user, family)
    if not decision:
        raise PermissionError(decision.reason)
    if frequency not in Frequency.values:
        raise ValueError(frequency)
    if subscribed:
        _, changed = ReportSubscription.objects.get_or_create(user=user, family=family, frequency=frequency)
    else:
        changed = ReportSubscription.objects.filter(user=user, family=family, frequency=frequency).delete()[0] > 0
    if changed:  # who receives which report by e-mail (personal data leaving by mail) is on the record
        audit_record(
            action=AuditAction.REPORT_SUBSCRIBED if subscribed else AuditAction.REPORT_UNSUBSCRIBED,
            subject=("reporting.report", family),
            after={"report": family, "frequency": frequency, "user": user.get_username()},
        )
    return subscribed
