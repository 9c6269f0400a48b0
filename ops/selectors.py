"""Reads of the ops app: queues, work items and approvals as a given staff member may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from ops import errors
from ops.approvals import registered_actions
from ops.models import OPEN_STATUSES, ApprovalRequest, ApprovalStatus, Queue, User, WorkItem, WorkItemStatus
from ops.priority import priority_range
from ops.roles import ROLE_DUTY, Role, incompatible_with, role_conflicts


def user_holds_role(user: User, role: str) -> bool:
    """Whether ``user`` acts in ``role``'s name (works its queues, decides its approval levels):
    they hold the role's duty permission. Django caches a user's permissions on the object, so
    asking again in the same request costs no query."""
    return user.is_active and any(user.has_perm(duty) for duty in _duties([role]))


def roles_held(user: User) -> set[str]:
    """The role codes ``user`` acts in (see :func:`user_holds_role`)."""
    return {role.value for role in ROLE_DUTY if user_holds_role(user, role)}


def roles_assigned(user: User) -> set[str]:
    """The role codes ``user`` has been given, for segregation of duties: the role groups they are
    in, and the roles whose duty permission they were granted directly. (A superuser is flagged
    on the access review on its own; ``has_perm`` would make them hold every role.)"""
    names = {g.name for g in user.groups.all()} & set(Role.values)
    direct = {f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all()}
    return names | {role.value for role, duty in ROLE_DUTY.items() if duty in direct}


def role_grant_conflict(user: User, role: str) -> str | None:
    """Why ``user`` may not be given ``role``: an incompatible role they hold (segregation of
    duties, ``ops.roles.INCOMPATIBLE_ROLES``), or None."""
    held = roles_assigned(user)
    for other, reason in incompatible_with(role).items():
        if other.value in held:
            return errors.ROLE_CONFLICT.format(username=user.username, held=other.value, role=role, reason=reason)
    return None


def roles_refused_for(user: User) -> dict[Role, str]:
    """The roles ``user`` may not be given because of a role they hold (shown at grant time)."""
    refused: dict[Role, str] = {}
    for held in roles_assigned(user):
        for other, reason in incompatible_with(held).items():
            refused.setdefault(other, f"holds {held}: {reason}")
    return dict(sorted(refused.items(), key=lambda kv: list(Role).index(kv[0])))


def users_with_permission(*permissions: str) -> QuerySet[User]:
    """Active staff holding any of ``permissions`` ('app_label.codename'), through a group or
    directly."""
    match = Q(pk__in=[])
    for permission in permissions:
        app_label, codename = permission.split(".", 1)
        match |= Q(content_type__app_label=app_label, codename=codename)
    granted = Permission.objects.filter(match)
    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__permissions__in=granted) | Q(user_permissions__in=granted) | Q(is_superuser=True))
        .distinct()
    )


def _duties(roles: list[str]) -> list[str]:
    return [ROLE_DUTY[Role(r)] for r in roles if r in Role.values and Role(r) in ROLE_DUTY]


def users_holding(role: str) -> QuerySet[User]:
    """Active staff who act in ``role``'s name: the people who may decide a level of an approval."""
    return users_with_permission(*_duties([role]))


def users_working(queue: Queue) -> QuerySet[User]:
    """Active staff who work ``queue`` (the people an item of it can be assigned to)."""
    return users_with_permission(*_duties(list(queue.roles)))


def queues_worked_by(user: User) -> QuerySet[Queue]:
    return Queue.objects.filter(roles__overlap=sorted(roles_held(user)))


def queues_visible_to(user: User) -> QuerySet[Queue]:
    if user.has_perm("ops.view_all_queues"):
        return Queue.objects.all()
    return queues_worked_by(user)


def work_item_get_for(user: User, item_id: int) -> WorkItem:
    item = (
        WorkItem.objects.select_related("queue", "owner", "resolved_by", "subject_type")
        .filter(pk=item_id, queue__in=queues_visible_to(user))
        .first()
    )
    if item is None:
        raise Http404("No such work item in your queues.")
    return item


SORTS = {
    "urgency": [F("urgency_at").asc(nulls_last=True), "id"],
    "due": [F("due_at").asc(nulls_last=True), "id"],
    "newest": ["-created_at", "-id"],
    "oldest": ["created_at", "id"],
}


def work_item_list(
    *,
    user: User,
    queue: str = "",
    status: str = "",
    owner: str = "",
    priority: str = "",
    overdue: bool = False,
    sort: str = "urgency",
    now: datetime | None = None,
) -> QuerySet[WorkItem]:
    """Items of the queues the user may see. ``status`` '' means every open status; ``owner`` is
    'me', 'unassigned', a username, or '' for anyone."""
    now = now or timezone.now()
    # Plain ids, not a subquery: the planner then knows the queues and can walk an index in order.
    visible = dict(queues_visible_to(user).values_list("code", "pk"))
    if queue:
        items = WorkItem.objects.filter(queue_id=visible.get(queue, -1))
    else:
        items = WorkItem.objects.filter(queue_id__in=list(visible.values()))
    items = items.select_related("queue", "owner", "subject_type")
    items = items.filter(status=status) if status else items.filter(status__in=OPEN_STATUSES)
    if owner == "me":
        items = items.filter(owner=user)
    elif owner == "unassigned":
        items = items.filter(owner__isnull=True)
    elif owner:
        items = items.filter(owner__username=owner)
    if priority:
        after, before = priority_range(priority, now)
        band = Q()
        if after is not None:
            band &= Q(urgency_at__gt=after)
        if before is not None:
            band &= Q(urgency_at__lte=before)
        else:  # the last band also holds the paused items (no urgency time)
            band |= Q(urgency_at__isnull=True)
        items = items.filter(band)
    if overdue:
        items = items.filter(due_at__lt=now)
    return items.order_by(*SORTS.get(sort, SORTS["urgency"]))


@dataclass(frozen=True)
class QueueSummary:
    queue: Queue
    open: int
    unassigned: int
    overdue: int
    works_it: bool


def queue_summaries(user: User, now: datetime | None = None) -> list[QueueSummary]:
    now = now or timezone.now()
    worked = set(queues_worked_by(user).values_list("pk", flat=True))
    queues = queues_visible_to(user).annotate(
        n_open=Count("items", filter=Q(items__status__in=OPEN_STATUSES)),
        n_unassigned=Count("items", filter=Q(items__status=WorkItemStatus.OPEN, items__owner__isnull=True)),
        n_overdue=Count("items", filter=Q(items__status__in=OPEN_STATUSES, items__due_at__lt=now)),
    )
    return [QueueSummary(q, q.n_open, q.n_unassigned, q.n_overdue, q.pk in worked) for q in queues.order_by("name")]


def my_open_items(user: User) -> QuerySet[WorkItem]:
    return (
        WorkItem.objects.select_related("queue")
        .filter(owner=user, status__in=OPEN_STATUSES)
        .order_by(F("urgency_at").asc(nulls_last=True), "id")
    )


# --- approvals --------------------------------------------------------------------------------

# The role the next decision needs: required_roles is 1-based in SQL.
_NEXT_ROLE = RawSQL(
    "required_roles[(SELECT count(*) FROM ops_approvaldecision d WHERE d.request_id = ops_approvalrequest.id) + 1]",
    [],
)


def approvals_waiting_for(user: User) -> QuerySet[ApprovalRequest]:
    """Pending requests this user may decide now: not the maker, not an earlier checker, and
    holding the role of the next level."""
    requests = (
        ApprovalRequest.objects.select_related("maker")
        .annotate(next_role=_NEXT_ROLE)
        .filter(status=ApprovalStatus.PENDING, next_role__in=sorted(roles_held(user)), expires_at__gt=timezone.now())
        .exclude(maker=user)
        .exclude(decisions__checker=user)
    )
    assigned = roles_assigned(user)
    for action in registered_actions():  # levels this user may not decide (the action's rule)
        for level, excluded in action.checkers_may_not_hold.items():
            if {r.value for r in excluded} & assigned:
                requests = requests.exclude(action=action.key, next_role=level.value)
    return requests.order_by("created_at")


def approval_pending(action: str, subject: Any) -> ApprovalRequest | None:
    """The request for ``action`` on ``subject`` still waiting for its checkers, if any (at most
    one: ``approval_create`` refuses a second)."""
    from django.contrib.contenttypes.models import ContentType

    return ApprovalRequest.objects.filter(
        action=action,
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=str(subject.pk),
        status=ApprovalStatus.PENDING,
    ).first()


def approvals_made_by(user: User) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.filter(maker=user).order_by("-created_at")


def approval_get_for(user: User, request_id: int) -> ApprovalRequest:
    """Makers, checkers, holders of a level's role, and auditors/admins may see a request."""
    request = (
        ApprovalRequest.objects.select_related("maker", "subject_type")
        .prefetch_related("decisions__checker")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise Http404("No such approval request.")
    visible = (
        request.maker_id == user.pk
        or any(d.checker_id == user.pk for d in request.decisions.all())
        or any(user_holds_role(user, role) for role in request.required_roles)
        or user.has_perm("ops.view_audit_trail")
    )
    if not visible:
        raise Http404("No such approval request.")
    return request


# --- the quarterly access review --------------------------------------------------------------

DORMANT_AFTER_DAYS = 90


@dataclass(frozen=True)
class AccessRow:
    """One staff member on the access review: who holds what, and what the review should look at."""

    user: User
    roles: list[str]
    direct_permissions: list[str]
    object_grants: int
    conflicts: list[tuple[Role, Role, str]]
    dormant: bool

    @property
    def findings(self) -> list[str]:
        found = [f"incompatible roles: {a.value} + {b.value}" for a, b, _ in self.conflicts]
        if self.dormant:
            found.append(f"dormant: no sign-in for {DORMANT_AFTER_DAYS} days")
        if self.user.is_superuser:
            found.append("superuser: holds every permission")
        return found


def access_review_period(now: datetime | None = None) -> str:
    """The quarter a review covers, e.g. '2026-Q4'."""
    now = now or timezone.now()
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def _dormant(user: User, now: datetime) -> bool:
    """An active account nobody signed in to for the dormancy period (or ever, once it is older)."""
    since = user.last_login or user.date_joined
    return user.is_active and since < now - timedelta(days=DORMANT_AFTER_DAYS)


def access_review_rows(now: datetime | None = None) -> list[AccessRow]:
    """Every staff member (active or not): roles, direct permissions, the number of per-object
    grants, incompatible role pairs held, and whether the account is dormant."""
    from guardian.models import UserObjectPermission

    now = now or timezone.now()
    grants = dict(
        UserObjectPermission.objects.values("user").annotate(n=Count("id")).values_list("user", "n").order_by()
    )
    users = User.objects.prefetch_related(
        "groups", Prefetch("user_permissions", queryset=Permission.objects.select_related("content_type"))
    ).order_by("username")
    rows = []
    for user in users:
        assigned = roles_assigned(user)
        rows.append(
            AccessRow(
                user=user,
                roles=[r.value for r in Role if r.value in assigned],
                direct_permissions=sorted(
                    f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all()
                ),
                object_grants=grants.get(user.pk, 0),
                conflicts=role_conflicts(assigned),
                dormant=_dormant(user, now),
            )
        )
    return rows


# --- outbound webhooks --------------------------------------------------------------------------


def webhook_endpoint_list() -> list[Any]:
    """Every endpoint, each with its deliveries counted by status (pending, delivered, failed)."""
    from ops.models import DeliveryStatus, WebhookEndpoint

    return list(
        WebhookEndpoint.objects.annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            delivered=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DELIVERED)),
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
        ).order_by("id")
    )


def webhook_endpoint_get(endpoint_id: int) -> Any:
    from ops.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).select_related("created_by").first()
    if endpoint is None:
        raise Http404
    return endpoint


def webhook_delivery_list(endpoint: Any, *, status: str = "", limit: int = 50) -> list[Any]:
    """An endpoint's latest deliveries, newest first, each with its attempts (newest first)."""
    from ops.models import WebhookAttempt, WebhookDelivery

    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if status:
        deliveries = deliveries.filter(status=status)
    return list(
        deliveries.order_by("-created_at", "-id").prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-number", "-id"))
        )[:limit]
    )


def event_list(*, type: str = "", since: datetime | None = None) -> QuerySet[Any]:
    """The outbox's events other systems may read, oldest first (``GET /api/v1/events``): never the
    internal ones (a CRM push carries what only the CRM may receive)."""
    from ops.events import EventType
    from ops.models import OutboxEvent

    events = OutboxEvent.objects.filter(type__in=EventType.values)
    if type:
        events = events.filter(type=type)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events.order_by("created_at", "id")


def interactions_for(subject: Any, *, limit: int = 200) -> list[Any]:
    """The interaction log of one subject (a client): messages sent, and records other systems hold."""
    from django.contrib.contenttypes.models import ContentType

    from ops.models import Interaction

    return list(
        Interaction.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk))
        .select_related("in_reply_to")
        .order_by("-created_at", "-id")[:limit]
    )


def followups_for(subject: Any) -> list[Any]:
    """The follow-up enrollments of one subject (a client), latest first, with ``next_step``."""
    from django.contrib.contenttypes.models import ContentType

    from ops.models import EnrollmentStatus, FollowUpEnrollment, FollowUpStep

    rows = list(
        FollowUpEnrollment.objects.filter(
            subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk)
        )
        .select_related("sequence")
        .order_by("-started_at", "-id")[:20]
    )
    for e in rows:
        e.next_step = (  # type: ignore[attr-defined]
            FollowUpStep.objects.filter(sequence_id=e.sequence_id, position=e.next_position).first()
            if e.status == EnrollmentStatus.ACTIVE
            else None
        )
    return rows


def followup_sequence_list() -> list[Any]:
    """The follow-up sequences, each with its steps and how many clients are in it now."""
    from ops.followups import EVENT_LABELS
    from ops.models import EnrollmentStatus, FollowUpSequence

    sequences = list(
        FollowUpSequence.objects.annotate(
            active=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.ACTIVE))
        )
        .prefetch_related("steps")
        .order_by("name")
    )
    for s in sequences:
        s.stop_labels = [EVENT_LABELS.get(event, event) for event in s.stop_on]  # type: ignore[attr-defined]
    return sequences


def followup_enrollment_list(*, active: bool, sequence: str = "", limit: int = 200) -> list[Any]:
    """Enrollments, each with ``next_step`` (its step's label, while active): the active ones by
    due time, or the ended ones, latest first."""
    from ops.models import EnrollmentStatus, FollowUpEnrollment, FollowUpStep

    rows = FollowUpEnrollment.objects.select_related("sequence", "work_item", "work_item__queue")
    if active:
        rows = rows.filter(status=EnrollmentStatus.ACTIVE).order_by("next_due_at", "id")
    else:
        rows = rows.exclude(status=EnrollmentStatus.ACTIVE).order_by("-ended_at", "-id")
    if sequence:
        rows = rows.filter(sequence__code=sequence)
    found = list(rows[:limit])
    labels = {
        (s.sequence_id, s.position): s
        for s in FollowUpStep.objects.filter(sequence_id__in={e.sequence_id for e in found})
    }
    for e in found:
        step = labels.get((e.sequence_id, e.next_position))
        e.next_step = step if e.status == EnrollmentStatus.ACTIVE else None  # type: ignore[attr-defined]
    return found


# Interactions that are records about the client rather than messages to it: never shown to the client.
INTERNAL_CHANNELS = ("note", "crm")


def client_notifications(subject: Any) -> QuerySet[Any]:
    """The messages sent to a client (the client-area API's notifications): its interaction rows
    less the internal ones (staff notes, CRM records). Only these fields are read, so a column
    added to the interaction log changes nothing here."""
    from django.contrib.contenttypes.models import ContentType

    from ops.models import Interaction

    return (
        Interaction.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk))
        .exclude(channel__in=INTERNAL_CHANNELS)
        .only("id", "channel", "template", "title", "body", "status", "created_at", "sent_at")
    )


def decisions_evidence_part(client: Any, subjects: set[tuple[str, str]]) -> Any:
    """The evidence pack's decisions: every maker-checker request about the client or one of its
    records (what was asked, by whom, why) with each checker's decision and reason, and every work
    item about them with its resolution and note. Runs after the parts that name the records."""
    from django.contrib.contenttypes.models import ContentType

    from audit.evidence import EvidencePart

    by_type: dict[str, list[str]] = {}
    for subject_type, subject_id in subjects:
        by_type.setdefault(subject_type, []).append(subject_id)
    where = Q(pk__in=[])
    for subject_type, ids in by_type.items():
        app_label, model = subject_type.split(".", 1)
        content_type = ContentType.objects.filter(app_label=app_label, model=model).first()
        if content_type is not None:
            where |= Q(subject_type=content_type, subject_id__in=ids)
    requests = list(
        ApprovalRequest.objects.filter(where)
        .select_related("maker")
        .prefetch_related("decisions__checker")
        .order_by("id")
    )
    items = list(WorkItem.objects.filter(where).select_related("queue", "owner", "resolved_by").order_by("id"))
    return EvidencePart(
        files={
            "decisions.json": [
                {
                    "id": r.pk,
                    "action": r.action,
                    "subject": f"{r.subject_type.app_label}.{r.subject_type.model}:{r.subject_id}",
                    "summary": r.summary,
                    "payload": r.payload,
                    "payload_hash": r.payload_hash,
                    "maker": r.maker_label,
                    "rationale": r.reason,
                    "status": r.get_status_display(),
                    "created_at": r.created_at,
                    "closed_at": r.closed_at,
                    "failure_reason": r.failure_reason,
                    "decisions": [
                        {
                            "level": d.level,
                            "approver": d.checker.get_username(),
                            "decision": d.get_decision_display(),
                            "rationale": d.reason,
                            "at": d.decided_at,
                        }
                        for d in r.decisions.all()
                    ],
                }
                for r in requests
            ],
            "work_items.json": [
                {
                    "id": i.pk,
                    "queue": i.queue.name,
                    "title": i.title,
                    "opened_at": i.created_at,
                    "due_at": i.due_at,
                    "owner": i.owner.get_username() if i.owner else None,
                    "status": i.get_status_display(),
                    "resolution": i.get_resolution_code_display(),
                    "note": i.resolution_note,
                    "resolved_by": i.resolved_by.get_username() if i.resolved_by else None,
                    "resolved_at": i.resolved_at,
                }
                for i in items
            ],
        },
        subjects={("ops.approvalrequest", str(r.pk)) for r in requests} | {("ops.workitem", str(i.pk)) for i in items},
    )
