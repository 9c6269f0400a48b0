"""Maker-checker: submit, decide, cancel, expire. The handler of an approved action runs exactly
once, inside the transaction of the final approval, on the payload whose hash the maker submitted;
if it fails, the request records the failure and nothing of the handler's work remains. A request
that closes without being carried out (rejected, cancelled, expired) calls the action's
``on_close`` hook in the same transaction.

Lock order: the request, then its subject (handlers and hooks lock the subject after the engine
locked the request; a subject's service that withdraws a request takes the request first too)."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from audit.actions import AuditAction
from audit.context import ActorKind, current_actor
from audit.services import audit_record
from ops import errors
from ops.approvals import Payload, get_action
from ops.errors import OpsError
from ops.locks import approval_request_lock
from ops.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, Decision, User
from ops.permissions import ALLOWED, deny
from ops.permissions import Decision as PermissionDecision
from ops.roles import Role
from ops.selectors import (
    approval_pending,
    approvals_waiting_for,
    roles_assigned,
    roles_held,
    user_holds_role,
    users_holding,
)
from ops.services.notifications import notify

log = logging.getLogger(__name__)


def payload_hash(payload: Payload) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _normalise(payload: Payload) -> Payload:
    result: Payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    return result


def _snapshot(request: ApprovalRequest) -> dict[str, Any]:
    return {"status": request.status, "decisions": request.decisions.count()}


def approvals_can_view(actor: User) -> PermissionDecision:
    """The approvals pages (and the nav): staff who act in a role (makers and checkers), and
    auditors, who read every request."""
    if roles_held(actor) or actor.has_perm("ops.view_audit_trail"):
        return ALLOWED
    return deny(errors.NO_APPROVALS)


def approval_can_submit(actor: User, action: str) -> PermissionDecision:
    """May ``actor`` make a request for ``action`` (the action's maker permission)?"""
    spec = get_action(action)
    if not actor.has_perm(spec.maker_permission):
        return deny(errors.MAKER_NOT_ALLOWED.format(action=spec.label))
    return ALLOWED


def approval_can_decide(actor: User, request: ApprovalRequest) -> PermissionDecision:
    """May ``actor`` approve or reject ``request`` now: it is pending and not expired, the actor is
    neither its maker nor an earlier checker, and acts in the role of the next level."""
    acting = current_actor()
    if acting is not None and acting.kind == ActorKind.AUTOMATION:
        return deny(errors.AGENT_NEVER_CHECKER)  # invariant 10: agents propose, people decide
    if not actor.is_active or actor.pk is None:
        return deny(errors.CHECKER_NOT_ACTIVE_STAFF)
    if request.status != ApprovalStatus.PENDING:
        return deny(errors.NOT_PENDING.format(status=request.get_status_display().lower()))
    if request.expires_at <= timezone.now():
        return deny(errors.REQUEST_EXPIRED.format(when=request.expires_at.strftime("%Y-%m-%d %H:%M UTC")))
    if request.maker_id == actor.pk:
        return deny(errors.CHECKER_IS_MAKER)
    earlier = list(request.decisions.all())
    if any(d.checker_id == actor.pk for d in earlier):
        return deny(errors.CHECKER_ALREADY_DECIDED)
    role = request.required_roles[len(earlier)]
    if not user_holds_role(actor, role):
        return deny(errors.CHECKER_WRONG_ROLE.format(role=role))
    excluded = get_action(request.action).checkers_may_not_hold.get(Role(role), frozenset())
    if held := sorted(r.value for r in excluded if r.value in roles_assigned(actor)):
        return deny(errors.CHECKER_HOLDS_EXCLUDED_ROLE.format(roles=" or ".join(held)))
    check = get_action(request.action).checker_check
    if check is not None:
        decision: PermissionDecision = check(actor, request)
        return decision
    return ALLOWED


def approvals_inbox(actor: User, limit: int | None = None) -> list[ApprovalRequest]:
    """The requests ``actor`` may decide now, oldest first: the waiting ones of their roles
    (``approvals_waiting_for``), less those an action's own rule refuses them (``checker_check``,
    e.g. the person who entered a withdrawal, for an agent's proposal on it), as
    ``approval_can_decide`` would when they press the button."""
    waiting = approvals_waiting_for(actor).prefetch_related("decisions")
    inbox = []
    for request in waiting.iterator(chunk_size=200):
        if get_action(request.action).checker_check is None or approval_can_decide(actor, request):
            inbox.append(request)
            if limit is not None and len(inbox) == limit:
                break
    return inbox


def approval_can_cancel(actor: User, request: ApprovalRequest) -> PermissionDecision:
    """Only the maker cancels, and only while the request is pending."""
    if request.maker_id != actor.pk:
        return deny(errors.ONLY_MAKER_CANCELS)
    if request.status != ApprovalStatus.PENDING:
        return deny(errors.NOT_PENDING.format(status=request.get_status_display().lower()))
    return ALLOWED


@transaction.atomic(durable=True)
def approval_submit(
    *, action: str, subject: models.Model, payload: Payload, maker: User, reason: str
) -> ApprovalRequest:
    """A staff member asks for a sensitive action (its own transaction)."""
    return approval_create(action=action, subject=subject, payload=payload, maker=maker, reason=reason)


@transaction.atomic
def approval_create(
    *,
    action: str,
    subject: models.Model,
    payload: Payload,
    maker: User | None,
    reason: str,
    maker_label: str = "",
) -> ApprovalRequest:
    """Open a request inside the caller's transaction (a service that routes its subject to
    approval as one step of its own work, e.g. a withdrawal sent to review). ``maker`` is None
    only for actions that allow outside makers; ``maker_label`` then names them."""
    spec = get_action(action)
    if maker is None:
        if not spec.outside_makers:
            raise OpsError(errors.STAFF_MAKER_REQUIRED.format(action=spec.label))
        if not maker_label.strip():
            raise OpsError(errors.MAKER_LABEL_REQUIRED)
    else:
        approval_can_submit(maker, action).require(OpsError)
        if isinstance(subject, User) and subject.pk == maker.pk:
            raise OpsError(errors.MAKER_IS_SUBJECT)
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    payload = _normalise(payload)
    spec.validate(subject, payload)
    levels = spec.policy(subject, payload)
    content_type = ContentType.objects.get_for_model(subject)
    if approval_pending(action, subject) is not None:
        raise OpsError(errors.ALREADY_PENDING.format(action=spec.label.lower()))
    now = timezone.now()
    request = ApprovalRequest(
        action=action,
        subject_type=content_type,
        subject_id=str(subject.pk),
        summary=spec.describe(subject, payload)[:300],
        payload=payload,
        payload_hash=payload_hash(payload),
        maker=maker,
        maker_label=(maker.get_username() if maker is not None else maker_label.strip())[:150],
        reason=reason.strip(),
        required_roles=[r.value for r in levels],
        created_at=now,
        expires_at=now + timedelta(hours=spec.expires_after_hours),
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:  # a concurrent identical request won
        raise OpsError(errors.ALREADY_PENDING.format(action=spec.label.lower())) from None
    audit_record(
        action=AuditAction.APPROVAL_SUBMITTED,
        subject=request,
        after={
            "action": action,
            "subject": f"{content_type.app_label}.{content_type.model}:{subject.pk}",
            "payload": payload,
            "payload_hash": request.payload_hash,
            "levels": request.required_roles,
            "maker": request.maker_label,
        },
        reason=request.reason,
    )
    _notify_next_checkers(request)
    return request


def _notify_next_checkers(request: ApprovalRequest) -> None:
    level = request.decisions.count()
    role = request.required_roles[level]
    checkers = users_holding(role).exclude(approval_decisions__request=request)
    if request.maker_id is not None:
        checkers = checkers.exclude(pk=request.maker_id)
    excluded = {r.value for r in get_action(request.action).checkers_may_not_hold.get(Role(role), frozenset())}
    if excluded:
        checkers = [u for u in checkers.prefetch_related("groups") if not excluded & roles_assigned(u)]  # type: ignore[assignment]
    notify(
        recipients=checkers,
        title=f"Approval needed ({role}): {request.summary}",
        body=f"Requested by {request.maker_name}: {request.reason}",
        link=f"/approvals/{request.pk}/",
    )


@transaction.atomic(durable=True)
def approval_decide(
    *, request_id: int, checker: User, decision: str, reason: str, seen_payload_hash: str | None = None
) -> ApprovalRequest:
    return approval_decide_apply(
        request_id=request_id, checker=checker, decision=decision, reason=reason, seen_payload_hash=seen_payload_hash
    )


@transaction.atomic
def approval_decide_apply(
    *, request_id: int, checker: User, decision: str, reason: str, seen_payload_hash: str | None = None
) -> ApprovalRequest:
    """The decision inside the caller's transaction, with every check of ``approval_decide``: a
    person accepting an agent's proposal to approve a withdrawal decides the withdrawal's own review
    request with it, in the proposal's transaction (``agents.withdrawal_decision``)."""
    if decision not in Decision.values:
        raise OpsError(f"Unknown decision {decision!r}.")
    if not reason.strip():
        raise OpsError(errors.DECISION_REASON_REQUIRED)
    request = approval_request_lock(request_id)
    approval_can_decide(checker, request).require(OpsError)
    level = request.decisions.count()
    role = request.required_roles[level]
    if seen_payload_hash is not None and seen_payload_hash != request.payload_hash:
        raise OpsError(errors.PAYLOAD_CHANGED)
    ApprovalDecision.objects.create(
        request=request, level=level, checker=checker, decision=Decision(decision), reason=reason.strip()
    )
    before = {"status": request.status, "decisions": level}
    audit_record(
        action=AuditAction.APPROVAL_DECIDED,
        subject=request,
        before=before,
        after={"decision": decision, "level": level + 1, "of": len(request.required_roles), "role": role},
        reason=reason.strip(),
    )
    if decision == Decision.REJECT:
        request.reject()
        request.closed_at = timezone.now()
        _save(request)
        audit_record(action=AuditAction.APPROVAL_REJECTED, subject=request, before=before, after=_snapshot(request))
        _notify_maker(request, f"Rejected: {request.summary}", body=reason)
        _on_close(request)
    elif level + 1 < len(request.required_roles):
        _notify_next_checkers(request)
    else:
        _execute(request, before)
    return request


def _execute(request: ApprovalRequest, before: dict[str, Any]) -> None:
    spec = get_action(request.action)
    subject = request.subject
    try:
        if subject is None:
            raise OpsError("The subject of this request no longer exists.")
        if payload_hash(request.payload) != request.payload_hash:
            raise OpsError(errors.TAMPERED_PAYLOAD)
        with transaction.atomic():  # a savepoint: a failing handler leaves nothing behind
            spec.validate(subject, request.payload)
            result = spec.execute(subject, request.payload, request)
    except Exception as exc:  # any failure is recorded on the request, never half-applied
        log.warning("approved action %s #%s failed: %s", request.action, request.pk, exc)
        request.mark_failed()
        request.failure_reason = str(exc) or exc.__class__.__name__
        request.closed_at = timezone.now()
        _save(request)
        audit_record(
            action=AuditAction.APPROVAL_FAILED,
            subject=request,
            before=before,
            after=_snapshot(request),
            reason=request.failure_reason,
        )
        _notify_maker(request, f"Failed after approval: {request.summary}", body=request.failure_reason)
        return
    request.mark_executed()
    request.result = result
    request.closed_at = timezone.now()
    _save(request)
    audit_record(
        action=AuditAction.APPROVAL_EXECUTED,
        subject=request,
        before=before,
        after=_snapshot(request) | {"result": result},
    )
    _notify_maker(request, f"Approved and done: {request.summary}")


def _notify_maker(request: ApprovalRequest, title: str, body: str = "") -> None:
    if request.maker is not None:  # an outside maker (a client, an automation) has no staff inbox
        notify(recipients=[request.maker], title=title, body=body, link=f"/approvals/{request.pk}/")


def _on_close(request: ApprovalRequest) -> None:
    """The request closed without being carried out: tell its subject (the action's hook)."""
    spec = get_action(request.action)
    subject = request.subject
    if spec.on_close is not None and subject is not None:
        spec.on_close(subject, request.payload, request)


def _save(request: ApprovalRequest) -> None:
    try:
        request.save()
    except ConcurrentTransition:
        raise OpsError(errors.NOT_PENDING.format(status="already decided")) from None


@transaction.atomic(durable=True)
def approval_cancel(*, request_id: int, maker: User, reason: str) -> ApprovalRequest:
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    request = approval_request_lock(request_id)
    approval_can_cancel(maker, request).require(OpsError)
    before = _snapshot(request)
    request.cancel()
    request.closed_at = timezone.now()
    _save(request)
    audit_record(
        action=AuditAction.APPROVAL_CANCELLED, subject=request, before=before, after=_snapshot(request), reason=reason
    )
    _on_close(request)
    return request


@transaction.atomic
def approval_withdraw(*, request_id: int, reason: str) -> ApprovalRequest:
    """The subject's own service settled it another way (a withdrawal rejected with a reason code
    while under review): its pending request is cancelled, in the caller's transaction, so nobody
    decides it any more. The action's ``on_close`` hook is not called: the caller is that service.
    A request no longer pending is left as it is."""
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    request = approval_request_lock(request_id)
    if request.status != ApprovalStatus.PENDING:
        return request
    before = _snapshot(request)
    request.cancel()
    request.closed_at = timezone.now()
    _save(request)
    audit_record(
        action=AuditAction.APPROVAL_CANCELLED,
        subject=request,
        before=before,
        after=_snapshot(request),
        reason=reason.strip(),
    )
    return request


def approvals_expire_due() -> int:
    """Pending requests past their expiry become expired (Celery beat)."""
    due = list(
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=timezone.now()).values_list(
            "pk", flat=True
        )
    )
    expired = 0
    for pk in due:
        try:
            expired += _expire_one(pk)
        except Exception:  # one subject's hook failing must not keep the others pending
            log.exception("approval request #%s could not be expired", pk)
    return expired


@transaction.atomic(durable=True)
def _expire_one(pk: int) -> bool:
    request = approval_request_lock(pk)
    if request.status != ApprovalStatus.PENDING or request.expires_at > timezone.now():
        return False
    before = _snapshot(request)
    request.expire()
    request.closed_at = timezone.now()
    _save(request)
    audit_record(action=AuditAction.APPROVAL_EXPIRED, subject=request, before=before, after=_snapshot(request))
    _notify_maker(request, f"Expired without a decision: {request.summary}")
    _on_close(request)
    return True
