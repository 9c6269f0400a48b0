"""Follow-up sequences (``ops.followups``): enrol a client, run the steps as they fall due (beat),
stop when the client acts or when a person says so.

- ``followup_enroll`` is called where the follow-up naturally starts (a registration: documents
  requested; a review asking for documents), inside that change's transaction.
- ``followups_subject_event`` is the small explicit hook the app where the client acted calls
  (the kyc app after an upload; accounts on a status change): each active enrollment whose
  sequence stops on that event ends, in the same transaction.
- ``followups_run_due`` (beat) claims due enrollments one at a time with
  ``select_for_update(skip_locked=True)``, so several workers share the work and none runs a step
  twice; a step sends a templated message (``client_notify``: logged now, sent after commit) or
  opens a work item for a person, which completes the enrollment.
- ``followup_stop``: a person stops one by hand, with a reason (audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import current_actor
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.followups import EVENT_LABELS
from ops.models import (
    EnrollmentStatus,
    FollowUpEnrollment,
    FollowUpSequence,
    FollowUpStep,
    FollowUpStepAction,
    InteractionChannel,
    User,
)
from ops.permissions import ALLOWED, Decision, deny


def followup_can_manage(actor: User, enrollment: FollowUpEnrollment | None = None) -> Decision:
    """See the sequences and their enrollments; with ``enrollment``: stop it by hand."""
    if not actor.has_perm("ops.manage_follow_ups"):
        return deny(errors.FOLLOWUPS_NOT_ALLOWED)
    if enrollment is not None and enrollment.status != EnrollmentStatus.ACTIVE:
        return deny(errors.FOLLOWUP_NOT_ACTIVE.format(status=enrollment.get_status_display().lower()))
    return ALLOWED


def _actor_label() -> str:
    actor = current_actor()
    return actor.label if actor else "system"


@transaction.atomic
def followup_enroll(
    *,
    sequence: str,
    subject: models.Model,
    label: str,
    addresses: dict[str, str],
    context: dict[str, Any],
    now: datetime | None = None,
) -> FollowUpEnrollment:
    """Start ``subject`` on the sequence (its first step due ``after`` from now). Already in it: the
    running enrollment is returned unchanged (one active enrollment per client and sequence)."""
    found = FollowUpSequence.objects.filter(code=sequence).first()
    if found is None:
        raise OpsError(errors.FOLLOWUP_UNKNOWN_SEQUENCE.format(code=sequence))
    first = found.steps.order_by("position").first()
    if first is None:
        raise OpsError(errors.FOLLOWUP_UNKNOWN_SEQUENCE.format(code=sequence))
    content_type = ContentType.objects.get_for_model(subject)
    running = FollowUpEnrollment.objects.filter(
        sequence=found, subject_type=content_type, subject_id=str(subject.pk), status=EnrollmentStatus.ACTIVE
    ).first()
    if running is not None:
        return running
    started = now or timezone.now()
    enrollment = FollowUpEnrollment(
        sequence=found,
        subject_type=content_type,
        subject_id=str(subject.pk),
        subject_label=label[:200],
        addresses={k: v for k, v in addresses.items() if v},
        context=context,
        started_at=started,
        next_position=first.position,
        next_due_at=started + first.after,
    )
    try:
        with transaction.atomic():
            enrollment.save()
    except IntegrityError:  # enrolled by someone else a moment ago
        return FollowUpEnrollment.objects.get(
            sequence=found, subject_type=content_type, subject_id=str(subject.pk), status=EnrollmentStatus.ACTIVE
        )
    audit_record(
        action=AuditAction.FOLLOWUP_ENROLLED,
        subject=subject,
        after={"sequence": found.code, "enrollment": enrollment.pk, "next_step": first.label,
               "next_due_at": enrollment.next_due_at},
    )  # fmt: skip
    return enrollment


def _end(enrollment: FollowUpEnrollment, *, status: str, reason: str, now: datetime, by: str = "") -> None:
    enrollment.status = status
    enrollment.next_due_at = None
    enrollment.ended_at = now
    enrollment.ended_reason = reason[:300]
    enrollment.ended_by = (by or _actor_label())[:150]
    enrollment._change_reason = reason  # type: ignore[attr-defined]
    enrollment.save(update_fields=["status", "next_due_at", "ended_at", "ended_reason", "ended_by"])


@transaction.atomic
def followups_subject_event(*, subject: models.Model, event: str) -> int:
    """The client acted (``event``, e.g. ``kyc.document_uploaded``): every active enrollment of
    ``subject`` whose sequence stops on it ends now. Returns how many ended."""
    now = timezone.now()
    ended = 0
    rows = (
        FollowUpEnrollment.objects.select_for_update(of=("self",))
        .select_related("sequence")
        .filter(
            subject_type=ContentType.objects.get_for_model(subject),
            subject_id=str(subject.pk),
            status=EnrollmentStatus.ACTIVE,
            sequence__stop_on__contains=[event],
        )
        .order_by("pk")
    )
    for enrollment in rows:
        reason = f"The client acted: {EVENT_LABELS.get(event, event)}."
        _end(enrollment, status=EnrollmentStatus.STOPPED, reason=reason, now=now)
        audit_record(
            action=AuditAction.FOLLOWUP_STOPPED,
            subject=subject,
            before={"status": EnrollmentStatus.ACTIVE},
            after={"sequence": enrollment.sequence.code, "enrollment": enrollment.pk, "status": enrollment.status,
                   "event": event},
            reason=reason,
        )  # fmt: skip
        ended += 1
    return ended


@transaction.atomic(durable=True)
def followup_stop(*, enrollment_id: int, actor: User, reason: str) -> FollowUpEnrollment:
    """A person stops a client's follow-up (the client called, the request is obsolete...)."""
    enrollment = FollowUpEnrollment.objects.select_for_update().select_related("sequence").get(pk=enrollment_id)
    followup_can_manage(actor, enrollment).require(OpsError)
    reason = (reason or "").strip()
    if not reason:
        raise OpsError(errors.FOLLOWUP_REASON_REQUIRED)
    _end(enrollment, status=EnrollmentStatus.STOPPED, reason=reason, now=timezone.now(), by=actor.get_username())
    audit_record(
        action=AuditAction.FOLLOWUP_STOPPED,
        subject=enrollment.subject or enrollment,
        before={"status": EnrollmentStatus.ACTIVE},
        after={"sequence": enrollment.sequence.code, "enrollment": enrollment.pk, "status": enrollment.status},
        reason=reason,
    )
    return enrollment


def followups_run_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Beat: run the step of each enrollment that is due, one enrollment per transaction, claimed
    with ``skip_locked`` (another worker takes the next one). Returns how many steps ran."""
    ran = 0
    while ran < limit:
        moment = now or timezone.now()
        with transaction.atomic(durable=True):
            enrollment = (
                FollowUpEnrollment.objects.filter(status=EnrollmentStatus.ACTIVE, next_due_at__lte=moment)
                .order_by("next_due_at", "id")
                .select_for_update(skip_locked=True)
                .first()
            )
            if enrollment is None:
                break
            _run_step(enrollment, moment)
        ran += 1
    return ran


def _route(step: FollowUpStep, addresses: dict[str, str]) -> tuple[str, str]:
    """The channel and address a message step goes to: SMS without a number (or without an SMS
    provider) goes by e-mail; e-mail without an address is left in the client area."""
    from ops.sms import sms_configured

    channel = step.channel
    if channel == InteractionChannel.SMS and not (addresses.get("sms") and sms_configured()):
        channel = InteractionChannel.EMAIL
    if channel == InteractionChannel.EMAIL and not addresses.get("email"):
        channel = InteractionChannel.IN_APP
    return channel, addresses.get(channel, "")


def _run_step(enrollment: FollowUpEnrollment, now: datetime) -> None:
    from ops.services.interactions import client_notify
    from ops.services.work_items import work_item_open

    steps = list(enrollment.sequence.steps.order_by("position"))
    subject = enrollment.subject
    if subject is None:  # the client is gone (e.g. erased): nothing to follow up
        _end(enrollment, status=EnrollmentStatus.STOPPED, reason="The subject no longer exists.", now=now)
        return
    index = next((i for i, s in enumerate(steps) if s.position == enrollment.next_position), None)
    if index is None:
        _end(enrollment, status=EnrollmentStatus.COMPLETED, reason="The sequence has no further step.", now=now)
        return
    step = steps[index]
    done: dict[str, Any] = {"sequence": enrollment.sequence.code, "enrollment": enrollment.pk, "step": step.label}
    if step.action == FollowUpStepAction.MESSAGE:
        channel, recipient = _route(step, enrollment.addresses)
        message = client_notify(
            subject=subject, recipient=recipient, template=step.template, context=enrollment.context, channel=channel
        )
        done.update(channel=channel, interaction=message.pk)
    else:
        item = work_item_open(
            queue=step.queue_code,
            subject=subject,
            title=f"{enrollment.sequence.name}: follow up with {enrollment.subject_label}",
            details={"sequence": enrollment.sequence.name, "steps_sent": index, "since": enrollment.started_at},
        )
        enrollment.work_item = item
        done["work_item"] = item.pk
    audit_record(action=AuditAction.FOLLOWUP_STEP_RUN, subject=subject, after=done)
    enrollment.last_step_at = now
    if index + 1 < len(steps):
        following = steps[index + 1]
        enrollment.next_position = following.position
        due = enrollment.started_at + following.after
        # Beat was so late (or down) that the next step is due already: keep the declared spacing
        # rather than send two steps at once.
        enrollment.next_due_at = due if due > now else now + (following.after - step.after)
        enrollment.save(update_fields=["next_position", "next_due_at", "last_step_at", "work_item"])
        return
    enrollment.save(update_fields=["last_step_at", "work_item"])
    reason = "Handed to a person (work item opened)." if enrollment.work_item_id else "All steps sent."
    _end(enrollment, status=EnrollmentStatus.COMPLETED, reason=reason, now=now)
    audit_record(
        action=AuditAction.FOLLOWUP_COMPLETED,
        subject=subject,
        after={"sequence": enrollment.sequence.code, "enrollment": enrollment.pk, "work_item": enrollment.work_item_id},
    )
