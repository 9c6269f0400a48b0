"""Staff second factor (django-otp) and sign-in lockouts (django-axes).

Every staff member signs in with a password and then a second factor: a TOTP authenticator app,
or one of the one-time recovery codes issued at enrolment (django-otp's static device). A
staff member who has none enrols at their first sign-in. An administrator asks for another staff
member's factor to be reset with a reason; a second administrator approves (maker-checker,
``staff.reset_second_factor``), and the reset is audited. Locked-out usernames and IPs are
unlocked by an administrator with a reason (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django_otp import devices_for_user
from django_otp import verify_token as otp_verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny

AUTHENTICATOR = "Authenticator app"
RECOVERY_CODES = "Recovery codes"


def second_factor_required(user: User) -> bool:
    """Who must pass a second factor before any staff page, the staff API or the admin: every
    staff member. Every role but the auditor changes data; the auditor reads identity documents
    and exports the audit trail, which a stolen password must not open either."""
    return user.is_active


def second_factor_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_enrolled_ids() -> set[int]:
    """The staff members who have an authenticator (for the staff page)."""
    return set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


# --- enrolment ---------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def second_factor_enrol_start(*, user: User) -> TOTPDevice:
    """A new authenticator secret for ``user``, unconfirmed until a code from it is entered. Any
    earlier unconfirmed secret is discarded, so each secret is shown once."""
    if second_factor_enrolled(user):
        raise OpsError(errors.SECOND_FACTOR_ALREADY_ENROLLED.format(username=user.username))
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def second_factor_enrol_confirm(*, user: User, device_id: int, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the authenticator with a code it shows, and issue the one-time recovery codes
    (returned once: only the person enrolling sees them)."""
    with transaction.atomic(durable=True):
        device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
        if device is None:  # enrolled meanwhile, or a secret replaced by a newer one
            raise OpsError(errors.SECOND_FACTOR_ALREADY_ENROLLED.format(username=user.username))
        if device.verify_token(_normalise_code(code)):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            StaticDevice.objects.filter(user=user).delete()
            static = StaticDevice.objects.create(user=user, name=RECOVERY_CODES, confirmed=True)
            codes = [StaticToken.random_token() for _ in range(settings.STAFF_RECOVERY_CODES)]
            StaticToken.objects.bulk_create([StaticToken(device=static, token=c) for c in codes])
            audit_record(
                action=AuditAction.STAFF_SECOND_FACTOR_ENROLLED,
                subject=user,
                after={"devices": [AUTHENTICATOR, RECOVERY_CODES], "recovery_codes": len(codes)},
            )
            return device, codes
    # outside the transaction: the failed try (device throttling) is kept
    raise OpsError(errors.SECOND_FACTOR_WRONG)


# --- verification ------------------------------------------------------------------------------


def second_factor_verify(*, user: User, code: str) -> Device | None:
    """The device that accepts ``code`` (a 6-digit TOTP code, or an unused recovery code, which
    is then spent), or None. Each device throttles repeated failures itself; the caller reports a
    failure as a failed sign-in (``user_login_failed``), which django-axes counts."""
    code = _normalise_code(code)
    if not code:
        return None
    kind = TOTPDevice if code.isdigit() else StaticDevice
    with transaction.atomic(durable=True):
        device = next((d for d in devices_for_user(user) if isinstance(d, kind)), None)
        matched = otp_verify_token(user, device.persistent_id, code) if device is not None else None
        if matched is not None:
            if isinstance(matched, StaticDevice):
                audit_record(
                    action=AuditAction.STAFF_RECOVERY_CODE_USED,
                    subject=user,
                    after={"recovery_codes_left": matched.token_set.count()},
                )
            else:
                audit_record(action=AuditAction.STAFF_SECOND_FACTOR_VERIFIED, subject=user)
    return matched


# --- reset (maker-checker) ---------------------------------------------------------------------


def second_factor_can_reset(actor: User, subject: User) -> Decision:
    """May ``actor`` ask for ``subject``'s second factor to be reset (a second administrator then
    decides)? Administrators, for someone else."""
    if not (actor.is_active and actor.has_perm("ops.manage_staff")):
        return deny(errors.SECOND_FACTOR_RESET_NOT_ALLOWED)
    if actor.pk == subject.pk:
        return deny(errors.SECOND_FACTOR_RESET_OWN)
    return ALLOWED


def second_factor_reset_request(*, actor: User, user: User, reason: str) -> ApprovalRequest:
    """Ask for ``user``'s second factor to be reset; a second administrator approves."""
    from ops.services.approvals import approval_submit

    second_factor_can_reset(actor, user).require(OpsError)
    return approval_submit(action="staff.reset_second_factor", subject=user, payload={}, maker=actor, reason=reason)


@transaction.atomic  # composed: runs inside the final approval
def second_factor_reset(*, user: User, reason: str) -> list[str]:
    """Remove every second-factor device of ``user`` (their sessions stop being verified at once);
    they enrol again at their next sign-in."""
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(
        f"{d.name}{'' if d.confirmed else ' (unconfirmed)'}" for d in devices_for_user(user, confirmed=None)
    )
    if not before:
        raise OpsError(errors.SECOND_FACTOR_NOT_ENROLLED.format(username=user.username))
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(
        action=AuditAction.STAFF_SECOND_FACTOR_RESET,
        subject=user,
        before={"devices": before},
        after={"devices": []},
        reason=reason,
    )
    return before


# --- lockouts (django-axes) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    kind: str  # "username" or "ip"
    value: str
    failures: int
    last_failure: datetime


def lockouts_list() -> list[Lockout]:
    """Usernames and IPs refused now: at least the failure limit within the cool-off."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    recent = AccessAttempt.objects.filter(attempt_time__gte=since)
    found: list[Lockout] = []
    for kind, field in (("username", "username"), ("ip", "ip_address")):
        rows = (
            recent.exclude(**{f"{field}__isnull": True})
            .values(field)
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
            .order_by(field)
        )
        found += [Lockout(kind, str(r[field]), int(r["failures"]), r["last"]) for r in rows]
    return found


def login_lockout_can_clear(actor: User) -> Decision:
    if actor.is_active and actor.has_perm("ops.manage_staff"):
        return ALLOWED
    return deny(errors.LOCKOUT_CLEAR_NOT_ALLOWED)


@transaction.atomic(durable=True)
def login_lockout_clear(*, actor: User, kind: str, value: str, reason: str) -> int:
    """Forget the failed sign-ins of a username or an IP (so it may sign in again at once)."""
    login_lockout_can_clear(actor).require(OpsError)
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    if kind == "username":
        cleared = axes_reset(username=value)
    elif kind == "ip":
        cleared = axes_reset(ip=value)
    else:
        raise OpsError(errors.LOCKOUT_NOT_FOUND.format(what=kind))
    if not cleared:
        raise OpsError(errors.LOCKOUT_NOT_FOUND.format(what=value))
    user = User.objects.filter(username=value).first() if kind == "username" else None
    audit_record(
        action=AuditAction.STAFF_LOCKOUT_CLEARED,
        subject=user if user is not None else ("axes.ip", value),
        before={kind: value, "attempt_records": cleared},
        reason=reason.strip(),
    )
    return cleared
