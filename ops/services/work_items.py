"""Work items: open, claim, assign, hold, resume, resolve, escalate. Every step is audited.

Locking: a step locks its item row (``ops.locks``); "next item" skips rows another claimer holds
and the FSM save is a compare-and-set on the status, so two people pressing it at once get
different items.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.locks import work_item_lock
from ops.models import (
    OPEN_STATUSES,
    Queue,
    ResolutionCode,
    RiskLevel,
    User,
    WorkItem,
    WorkItemStatus,
)
from ops.permissions import ALLOWED, Decision, deny
from ops.priority import urgency_at
from ops.selectors import queues_worked_by, user_holds_role, users_with_permission
from ops.services.notifications import notify


def _snapshot(item: WorkItem) -> dict[str, Any]:
    return {
        "queue": item.queue.code,
        "status": item.status,
        "owner": item.owner.username if item.owner else None,
        "due_at": item.due_at,
        "escalation_level": item.escalation_level,
    }


def _refresh_urgency(item: WorkItem) -> None:
    item.urgency_at = urgency_at(due_at=item.due_at, risk_level=item.risk_level, amount=item.amount_at_stake)


# --- who may do what to a work item: one function per action, read by the services and the pages


def queues_can_view(actor: User) -> Decision:
    """The queue pages (and the nav): staff who work a queue, or may see every queue."""
    if actor.has_perm("ops.view_all_queues") or queues_worked_by(actor).exists():
        return ALLOWED
    return deny(errors.NO_QUEUES)


def queue_can_work(actor: User, queue: Queue) -> Decision:
    """Whether ``actor`` works ``queue``: acts in one of the roles that work it."""
    if any(user_holds_role(actor, role) for role in queue.roles):
        return ALLOWED
    return deny(errors.NOT_YOUR_QUEUE.format(queue=queue.name))


def queue_can_take_next(actor: User, queue: Queue | None) -> Decision:
    """ "Next item" in one queue (or, with ``queue`` None, in any of the actor's queues)."""
    if queue is not None:
        return queue_can_work(actor, queue)
    if queues_worked_by(actor).exists():
        return ALLOWED
    return deny(errors.NO_QUEUES)


def work_item_can_claim(actor: User, item: WorkItem) -> Decision:
    if item.status == WorkItemStatus.RESOLVED:
        return deny(errors.ITEM_CLOSED)
    works = queue_can_work(actor, item.queue)
    if not works:
        return works
    if item.owner_id is not None:
        owner = "you" if item.owner_id == actor.pk else item.owner.username  # type: ignore[union-attr]
        return deny(errors.ALREADY_CLAIMED.format(owner=owner))
    return ALLOWED


def work_item_can_assign(actor: User, item: WorkItem) -> Decision:
    """Assign (or reassign) the item to someone who works its queue: a queue manager always; a
    worker of the queue while it is unassigned, or when they own it or lead its owner."""
    if item.status == WorkItemStatus.RESOLVED:
        return deny(errors.ITEM_CLOSED)
    manager = actor.has_perm("ops.manage_queues")
    if not manager:
        works = queue_can_work(actor, item.queue)
        if not works:
            return works
    if item.owner_id is not None and not (
        manager or item.owner_id == actor.pk or (item.owner is not None and item.owner.lead_id == actor.pk)
    ):
        return deny(errors.REASSIGN_NOT_ALLOWED)
    return ALLOWED


def work_item_can_be_assigned_to(assignee: User, item: WorkItem) -> Decision:
    if queue_can_work(assignee, item.queue):
        return ALLOWED
    return deny(errors.ASSIGNEE_CANNOT_WORK_QUEUE.format(username=assignee.username, queue=item.queue.name))


def _owner_decision(actor: User, item: WorkItem, *, statuses: tuple[str, ...], verb: str) -> Decision:
    if item.status == WorkItemStatus.RESOLVED:
        return deny(errors.ITEM_CLOSED)
    if item.owner_id != actor.pk:
        return deny(errors.NOT_OWNER)
    if item.status not in statuses:
        return deny(errors.BAD_TRANSITION.format(status=item.get_status_display().lower(), verb=verb))
    return ALLOWED


def work_item_can_release(actor: User, item: WorkItem) -> Decision:
    return _owner_decision(actor, item, statuses=(WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS), verb="released")


def work_item_can_hold(actor: User, item: WorkItem) -> Decision:
    return _owner_decision(actor, item, statuses=(WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS), verb="put on hold")


def work_item_can_resume(actor: User, item: WorkItem) -> Decision:
    return _owner_decision(actor, item, statuses=(WorkItemStatus.WAITING_ON_CLIENT,), verb="resumed")


def work_item_can_resolve(actor: User, item: WorkItem) -> Decision:
    return _owner_decision(actor, item, statuses=tuple(OPEN_STATUSES), verb="resolved")


def work_item_can_route(actor: User, item: WorkItem) -> Decision:
    """Move an open item to another queue, or change its risk level (its priority) or due time: a
    queue manager, or someone who works the queue it is in."""
    if item.status == WorkItemStatus.RESOLVED:
        return deny(errors.ITEM_CLOSED)
    if actor.has_perm("ops.manage_queues") or queue_can_work(actor, item.queue):
        return ALLOWED
    return deny(errors.ROUTE_NOT_ALLOWED.format(queue=item.queue.name))


def _save(item: WorkItem) -> None:
    try:
        item.save()
    except ConcurrentTransition:
        raise OpsError(errors.CHANGED_MEANWHILE) from None


def _transition(item: WorkItem, name: str, verb: str, **kwargs: Any) -> None:
    try:
        getattr(item, name)(**kwargs)
    except TransitionNotAllowed:
        raise OpsError(errors.BAD_TRANSITION.format(status=item.get_status_display().lower(), verb=verb)) from None


@transaction.atomic
def work_item_open(
    *,
    queue: str,
    subject: models.Model,
    title: str,
    risk_level: str = RiskLevel.LOW,
    amount_at_stake: Decimal = Decimal("0"),
    details: dict[str, Any] | None = None,
    due_at: datetime | None = None,
) -> WorkItem:
    """Put an exception in a queue. If the subject already has an open item there, that item is
    returned unchanged (one open item per subject and queue). ``due_at``: a deadline set outside
    (a card scheme's response deadline) instead of the queue's SLA."""
    try:
        target = Queue.objects.get(code=queue)
    except Queue.DoesNotExist:
        raise OpsError(errors.UNKNOWN_QUEUE.format(code=queue)) from None
    content_type = ContentType.objects.get_for_model(subject)
    existing = WorkItem.objects.filter(
        queue=target, subject_type=content_type, subject_id=str(subject.pk), status__in=OPEN_STATUSES
    ).first()
    if existing is not None:
        return existing
    now = timezone.now()
    item = WorkItem(
        queue=target,
        subject_type=content_type,
        subject_id=str(subject.pk),
        title=title[:200],
        details=details or {},
        risk_level=RiskLevel(risk_level),
        amount_at_stake=amount_at_stake,
        due_at=due_at or now + timedelta(minutes=target.sla_minutes),
        created_at=now,
    )
    _refresh_urgency(item)
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError:  # opened by someone else a moment ago
        return WorkItem.objects.get(
            queue=target, subject_type=content_type, subject_id=str(subject.pk), status__in=OPEN_STATUSES
        )
    audit_record(action=AuditAction.WORK_ITEM_OPENED, subject=item, after=_snapshot(item) | {"title": item.title})
    return item


@transaction.atomic(durable=True)
def work_item_claim_next(*, user: User, queue: str | None = None) -> WorkItem | None:
    """Take the most urgent unassigned item of the user's queues (or of one of them)."""
    worked = dict(queues_worked_by(user).values_list("code", "pk"))
    if queue is not None:
        target = Queue.objects.filter(code=queue).first()
        if target is None:
            raise OpsError(errors.UNKNOWN_QUEUE.format(code=queue))
        queue_can_take_next(user, target).require(OpsError)
        worked = {queue: target.pk}
    item = (
        WorkItem.objects.select_for_update(skip_locked=True)
        .filter(queue_id__in=list(worked.values()), status=WorkItemStatus.OPEN, owner__isnull=True)
        .order_by(models.F("urgency_at").asc(nulls_last=True), "id")
        .first()
    )
    if item is None:
        return None
    before = _snapshot(item)
    item.owner = user
    _transition(item, "start", "claimed")
    _save(item)
    audit_record(action=AuditAction.WORK_ITEM_CLAIMED, subject=item, before=before, after=_snapshot(item))
    return item


@transaction.atomic(durable=True)
def work_item_claim(*, item_id: int, user: User) -> WorkItem:
    item = work_item_lock(item_id)
    work_item_can_claim(user, item).require(OpsError)
    before = _snapshot(item)
    item.owner = user
    if item.status == WorkItemStatus.OPEN:
        _transition(item, "start", "claimed")
    _save(item)
    audit_record(action=AuditAction.WORK_ITEM_CLAIMED, subject=item, before=before, after=_snapshot(item))
    return item


@transaction.atomic(durable=True)
def work_item_assign(*, item_id: int, assignee: User, actor: User, reason: str = "") -> WorkItem:
    item = work_item_lock(item_id)
    work_item_can_assign(actor, item).require(OpsError)
    work_item_can_be_assigned_to(assignee, item).require(OpsError)
    before = _snapshot(item)
    action = AuditAction.WORK_ITEM_REASSIGNED if item.owner_id else AuditAction.WORK_ITEM_ASSIGNED
    item.owner = assignee
    if item.status == WorkItemStatus.OPEN:
        _transition(item, "start", "assigned")
    _save(item)
    audit_record(action=action, subject=item, before=before, after=_snapshot(item), reason=reason)
    return item


@transaction.atomic(durable=True)
def work_item_release(*, item_id: int, user: User, reason: str = "") -> WorkItem:
    """The owner hands the item back to the queue."""
    item = work_item_lock(item_id)
    work_item_can_release(user, item).require(OpsError)
    before = _snapshot(item)
    item.owner = None
    _transition(item, "requeue", "released", owned=False)
    _save(item)
    audit_record(
        action=AuditAction.WORK_ITEM_RELEASED, subject=item, before=before, after=_snapshot(item), reason=reason
    )
    return item


@transaction.atomic(durable=True)
def work_item_hold(*, item_id: int, user: User, reason: str) -> WorkItem:
    """Waiting on the client: the SLA clock stops and the remaining time is kept."""
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    item = work_item_lock(item_id)
    work_item_can_hold(user, item).require(OpsError)
    before = _snapshot(item)
    _transition(item, "hold", "put on hold")
    now = timezone.now()
    item.sla_paused_remaining = (item.due_at - now) if item.due_at else timedelta(0)
    item.due_at = None
    _refresh_urgency(item)
    _save(item)
    audit_record(action=AuditAction.WORK_ITEM_HELD, subject=item, before=before, after=_snapshot(item), reason=reason)
    return item


@transaction.atomic(durable=True)
def work_item_resume(*, item_id: int, user: User, reason: str = "") -> WorkItem:
    """The client answered: the SLA clock runs again from where it stopped."""
    item = work_item_lock(item_id)
    work_item_can_resume(user, item).require(OpsError)
    before = _snapshot(item)
    _transition(item, "resume", "resumed")
    item.due_at = timezone.now() + (item.sla_paused_remaining or timedelta(0))
    item.sla_paused_remaining = None
    _refresh_urgency(item)
    _save(item)
    audit_record(
        action=AuditAction.WORK_ITEM_RESUMED, subject=item, before=before, after=_snapshot(item), reason=reason
    )
    return item


@transaction.atomic(durable=True)
def work_item_resolve(*, item_id: int, user: User, code: str, note: str) -> WorkItem:
    if not code:
        raise OpsError(errors.RESOLUTION_CODE_REQUIRED)
    if code not in ResolutionCode.values:
        raise OpsError(errors.UNKNOWN_RESOLUTION_CODE.format(code=code))
    if not note.strip():
        raise OpsError(errors.RESOLUTION_NOTE_REQUIRED)
    item = work_item_lock(item_id)
    work_item_can_resolve(user, item).require(OpsError)
    return _resolve(item, resolved_by=user, code=code, note=note)


@transaction.atomic
def work_item_resolve_approved(*, item_id: int, checker: User, code: str, note: str) -> WorkItem:
    """Resolve an item as a proposal approved by ``checker`` said (an agent's proposed resolution),
    inside the approval's transaction; the checker, who works the item's queue, resolves it."""
    if code not in ResolutionCode.values:
        raise OpsError(errors.UNKNOWN_RESOLUTION_CODE.format(code=code))
    if not note.strip():
        raise OpsError(errors.RESOLUTION_NOTE_REQUIRED)
    item = work_item_lock(item_id)
    if item.status not in OPEN_STATUSES:
        raise OpsError(errors.ITEM_CLOSED)
    queue_can_work(checker, item.queue).require(OpsError)
    return _resolve(item, resolved_by=checker, code=code, note=note)


@transaction.atomic
def work_item_route(
    *,
    item_id: int,
    actor: User,
    reason: str,
    queue: str = "",
    risk_level: str = "",
    due_at: datetime | None = None,
) -> WorkItem:
    """Route an open item to another queue and/or re-prioritise it (risk level, due time), inside
    the caller's transaction (an agent's proposal a person accepted or edited, or a person's own
    triage). Moving it gives it the new queue's SLA unless a due time is given; an owner who does
    not work the new queue hands it back, as escalation does."""
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    if not (queue or risk_level or due_at):
        raise OpsError(errors.ROUTE_NOTHING)
    if risk_level and risk_level not in RiskLevel.values:
        raise OpsError(errors.ROUTE_RISK_LEVEL.format(levels=", ".join(RiskLevel.values)))
    now = timezone.now()
    if due_at is not None and due_at <= now:
        raise OpsError(errors.ROUTE_DUE_PAST)
    item = work_item_lock(item_id)
    work_item_can_route(actor, item).require(OpsError)
    before = _snapshot(item) | {"risk_level": item.risk_level}
    if queue:
        target = Queue.objects.filter(code=queue).first()
        if target is None:
            raise OpsError(errors.UNKNOWN_QUEUE.format(code=queue))
        if target.pk == item.queue_id:
            raise OpsError(errors.ROUTE_SAME_QUEUE.format(queue=target.name))
        taken = WorkItem.objects.filter(
            queue=target, subject_type=item.subject_type_id, subject_id=item.subject_id, status__in=OPEN_STATUSES
        ).first()
        if taken is not None:
            raise OpsError(errors.ROUTE_TAKEN.format(queue=target.name, item=taken.pk))
        item.queue = target
        if item.owner is not None and not queue_can_work(item.owner, target):
            item.owner = None
            _transition(item, "requeue", "requeued", owned=False)
        if item.due_at is not None and due_at is None:
            item.due_at = now + timedelta(minutes=target.sla_minutes)
    if risk_level:
        item.risk_level = RiskLevel(risk_level)
    if due_at is not None:
        if item.due_at is None:  # waiting on the client: the clock restarts from the new remaining time
            item.sla_paused_remaining = due_at - now
        else:
            item.due_at = due_at
    _refresh_urgency(item)
    _save(item)
    audit_record(
        action=AuditAction.WORK_ITEM_ROUTED,
        subject=item,
        before=before,
        after=_snapshot(item) | {"risk_level": item.risk_level},
        reason=reason.strip(),
    )
    return item


@transaction.atomic
def work_item_resolve_for_subject(*, queue: str, subject: models.Model, code: str, note: str) -> WorkItem | None:
    """Close the open item of a subject when the system settles it (e.g. the client re-uploaded,
    the approval was decided). Used by the domain services."""
    item = work_items_open_for(queue=queue, subject=subject).select_for_update().first()
    if item is None:
        return None
    return _resolve(item, resolved_by=None, code=code, note=note)


def work_items_open_for(*, queue: str, subject: models.Model) -> QuerySet[WorkItem]:
    """A subject's open items in a queue (at most one: a partial unique index)."""
    content_type = ContentType.objects.get_for_model(subject)
    return WorkItem.objects.filter(
        queue__code=queue, subject_type=content_type, subject_id=str(subject.pk), status__in=OPEN_STATUSES
    )


def _resolve(item: WorkItem, *, resolved_by: User | None, code: str, note: str) -> WorkItem:
    before = _snapshot(item)
    _transition(item, "resolve", "resolved")
    item.resolution_code = ResolutionCode(code)
    item.resolution_note = note.strip()
    item.resolved_at = timezone.now()
    item.resolved_by = resolved_by
    _save(item)
    audit_record(
        action=AuditAction.WORK_ITEM_RESOLVED,
        subject=item,
        before=before,
        after=_snapshot(item) | {"resolution_code": item.resolution_code},
        reason=item.resolution_note,
    )
    return item


def work_items_escalate_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """Escalate every item past its SLA: one level up, into the queue's escalation target, a new
    SLA clock there, and a notice to the owner's lead (or the queue lead, or the admins)."""
    now = now or timezone.now()
    overdue_ids = list(
        WorkItem.objects.filter(status__in=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS], due_at__lt=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for item_id in overdue_ids if _escalate_one(item_id, now))


@transaction.atomic(durable=True)
def _escalate_one(item_id: int, now: datetime) -> bool:
    item = (
        WorkItem.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("queue", "queue__escalation_target", "owner", "owner__lead")
        .filter(pk=item_id, status__in=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS], due_at__lt=now)
        .first()
    )
    if item is None:  # someone is working on it right now, or it was settled meanwhile
        return False
    before = _snapshot(item)
    from_queue, original_owner = item.queue, item.owner
    target = from_queue.escalation_target
    moved = False
    if (
        target is not None
        and not WorkItem.objects.filter(
            queue=target, subject_type=item.subject_type_id, subject_id=item.subject_id, status__in=OPEN_STATUSES
        ).exists()
    ):
        item.queue = target
        moved = True
        if item.owner is not None and not queue_can_work(item.owner, target):
            item.owner = None
            _transition(item, "requeue", "requeued", owned=False)
    item.escalation_level += 1
    item.escalated_at = now
    item.due_at = now + timedelta(minutes=item.queue.sla_minutes)
    _refresh_urgency(item)
    _save(item)
    audit_record(
        action=AuditAction.WORK_ITEM_ESCALATED,
        subject=item,
        before=before,
        after=_snapshot(item),
        reason=f"SLA of {from_queue.name} passed" + (f"; moved to {item.queue.name}" if moved else ""),
    )
    notify(
        recipients=_escalation_recipients(original_owner, from_queue, item.queue),
        title=f"Escalated (level {item.escalation_level}): {item.title}",
        body=f"Past its SLA in {from_queue.name}" + (f"; now in {item.queue.name}." if moved else "."),
        link=f"/items/{item.pk}/",
    )
    return True


def _escalation_recipients(owner: User | None, *queues: Queue) -> list[User]:
    if owner is not None and owner.lead is not None:
        return [owner.lead]
    for queue in queues:
        if queue.lead is not None:
            return [queue.lead]
    return list(users_with_permission("ops.manage_queues"))
