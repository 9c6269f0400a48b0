"""Staff sign-ins and sign-outs go into the audit trail (seed 003: "abnormal logins")."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import Actor
from audit.services import audit_record

security_log = logging.getLogger("security")


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
    security_log.warning("staff login failed for username=%r", username)
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=username).first()
    subject = user if user is not None else ("ops.user", "unknown")
    with transaction.atomic():
        audit_record(
            action=AuditAction.STAFF_LOGIN_FAILED,
            subject=subject,
            after={"username": username},
            actor=Actor.system("auth"),
        )
