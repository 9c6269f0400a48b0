"""The quarterly access review: who holds what, checked by compliance each quarter.

A scheduled job (``ops.tasks.access_review_open_due_task``, Celery beat) opens the quarter's review
as a work item in the compliance ``access_review`` queue; a compliance reviewer reads the page
(``ops.selectors.access_review_rows``: roles, direct permissions, per-object grants, incompatible
role pairs, dormant accounts) and signs it off, which records what was found, in the audit trail,
and closes the work item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.models import AccessReview, User
from ops.permissions import ALLOWED, Decision, deny
from ops.selectors import access_review_period, access_review_rows
from ops.services.work_items import work_item_open, work_item_resolve_for_subject


def access_review_can_view(actor: User) -> Decision:
    """The access review page and its CSV: compliance (who reviews), administrators (who manage
    staff) and auditors (who read)."""
    if any(actor.has_perm(p) for p in ("ops.review_access", "ops.manage_staff", "ops.view_audit_trail")):
        return ALLOWED
    return deny(errors.ACCESS_REVIEW_NOT_ALLOWED)


def access_review_can_sign_off(actor: User, review: AccessReview | None = None) -> Decision:
    """Signing off a quarter's review: a compliance reviewer, once per quarter."""
    if not actor.has_perm("ops.review_access"):
        return deny(errors.ACCESS_REVIEW_SIGN_OFF_NOT_ALLOWED)
    if review is not None and review.signed_off_at is not None:
        return deny(
            errors.ACCESS_REVIEW_ALREADY_SIGNED.format(
                period=review.period,
                who=review.signed_off_by.username if review.signed_off_by else "?",
                when=f"{review.signed_off_at:%Y-%m-%d}",
            )
        )
    return ALLOWED


def _summary(now: datetime) -> dict[str, Any]:
    rows = access_review_rows(now)
    return {
        "staff": len(rows),
        "active": sum(1 for r in rows if r.user.is_active),
        "findings": {r.user.username: r.findings for r in rows if r.findings},
    }


@transaction.atomic
def _review_for(period: str, now: datetime) -> AccessReview:
    review, created = AccessReview.objects.get_or_create(period=period, defaults={"opened_at": now})
    if created:
        audit_record(action=AuditAction.ACCESS_REVIEW_OPENED, subject=review, after={"period": period})
    return review


@transaction.atomic(durable=True)
def access_review_open_due(*, now: datetime | None = None) -> AccessReview | None:
    """Open this quarter's review, with a work item in the compliance access review queue, unless
    it is signed off already. Idempotent: run daily by beat, it opens one review and one item per
    quarter (an item closed without a sign-off is opened again: the review is still due)."""
    now = now or timezone.now()
    review = _review_for(access_review_period(now), now)
    review = AccessReview.objects.select_for_update().get(pk=review.pk)
    if review.signed_off_at is not None:
        return None
    work_item_open(
        queue="access_review",
        subject=review,
        title=f"Quarterly access review {review.period} is due",
        risk_level="medium",
        details={"review": review.period, "page": "/staff/access-review/"},
    )
    return review


@transaction.atomic(durable=True)
def access_review_sign_off(*, actor: User, note: str, now: datetime | None = None) -> AccessReview:
    """A compliance reviewer signs off the current quarter's review: what it found is kept on the
    review and in the audit trail (who, when), and the quarter's work item is closed."""
    now = now or timezone.now()
    note = (note or "").strip()
    if not note:
        raise OpsError(errors.REASON_REQUIRED)
    review = _review_for(access_review_period(now), now)
    review = AccessReview.objects.select_for_update().get(pk=review.pk)
    access_review_can_sign_off(actor, review).require(OpsError)
    review.signed_off_by = actor
    review.signed_off_at = now
    review.note = note
    review.findings = _summary(now)
    review._change_reason = note  # type: ignore[attr-defined]
    review.save()
    audit_record(
        action=AuditAction.ACCESS_REVIEW_SIGNED_OFF,
        subject=review,
        before={"period": review.period, "signed_off": False},
        after={
            "period": review.period,
            "signed_off_by": actor.username,
            "signed_off_at": now,
            "findings": review.findings,
        },
        reason=note,
    )
    work_item_resolve_for_subject(
        queue="access_review", subject=review, code="fixed", note=f"Signed off by {actor.username}: {note}"
    )
    return review
