"""Staff sign-ins and sign-outs go into the audit trail (seed 003: "abnormal logins"); failed
sign-ins and failed second factors also into the security log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.models import SecurityEventKind
from audit.services import audit_record, security_event_note
from ops import errors

# Django's own receiver saves last_login as an anonymous change; ours records it as the user's
# sign-in (last_login is not a tracked history field, the sign-in is an audit event).
user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")


@receiver(user_logged_in, dispatch_uid="ops.audit_login")
def _audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        user.last_login = timezone.now()
        user.skip_history_when_saving = True
        try:
            user.save(update_fields=["last_login"])
        finally:
            del user.skip_history_when_saving
        audit_record(action=AuditAction.STAFF_LOGIN, subject=user, actor=Actor.staff(user))


@receiver(user_logged_out, dispatch_uid="ops.audit_logout")
def _audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGOUT, subject=user, actor=Actor.staff(user))


@receiver(user_login_failed, dispatch_uid="ops.audit_login_failed")
def _audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    # a wrong second factor (ops.signin) says so; a wrong password (or a locked-out try) does not
    step = str(credentials.get("step", "password"))[:30]
    if step == "password":
        security_event_note(kind=SecurityEventKind.LOGIN_FAILED, username=username, reason=errors.SIGN_IN_FAILED)
    else:
        security_event_note(kind=SecurityEventKind.OTP_FAILED, username=username, reason=errors.SECOND_FACTOR_FAILED)
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=username).first()
    subject = user if user is not None else ("ops.user", "unknown")
    actor = Actor.system("auth")
    with transaction.atomic(), acting_as(actor):
        after = {"username": username} if step == "password" else {"username": username, "step": step}
        audit_record(action=AuditAction.STAFF_LOGIN_FAILED, subject=subject, after=after)
        if user is not None:
            _flag_repeated_failures(user, username)


@receiver(user_locked_out, dispatch_uid="ops.audit_locked_out")
def _audit_locked_out(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    """django-axes refused a username or an IP (too many failed sign-ins): in the audit trail,
    for the security log and the staff page's unlock list."""
    username = str(username or "")[:150]
    user = get_user_model().objects.filter(username=username).first() if username else None
    with transaction.atomic(), acting_as(Actor.system("auth")):
        audit_record(
            action=AuditAction.STAFF_LOCKED_OUT,
            subject=user if user is not None else ("ops.user", "unknown"),
            after={"username": username, "ip": ip_address},
        )


FAILED_LOGIN_LIMIT = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)


def _flag_repeated_failures(user: Any, username: str) -> None:
    """Abnormal sign-ins (seed 003 permission reports) land in the risk alert queue."""
    from audit.models import AuditEvent
    from ops.services.work_items import work_item_open

    # This failure's own event, written just before in this transaction, is among them.
    recent = AuditEvent.objects.filter(
        action=AuditAction.STAFF_LOGIN_FAILED,
        subject_type="ops.user",
        subject_id=str(user.pk),
        occurred_at__gte=timezone.now() - FAILED_LOGIN_WINDOW,
    ).count()
    if recent >= FAILED_LOGIN_LIMIT:
        work_item_open(
            queue="risk_alert",
            subject=user,
            title=f"Repeated failed sign-ins for staff user {username}",
            risk_level="high",
            details={"failed_sign_ins": recent, "window_minutes": int(FAILED_LOGIN_WINDOW.total_seconds() // 60)},
        )


def _otp_verification_failed(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """django-otp's signal: a second factor that did not verify (the user had passed the password)."""
    security_event_note(kind=SecurityEventKind.OTP_FAILED, actor=user, reason=errors.SECOND_FACTOR_FAILED)


try:  # django-otp's forms send it; its models are abstract, so this imports with or without the app
    from django_otp.forms import otp_verification_failed
except ImportError:  # pragma: no cover - django-otp not installed
    pass
else:
    otp_verification_failed.connect(_otp_verification_failed, dispatch_uid="ops.security_otp_failed")
