"""Writes of the ib app: partners in their hierarchy, and clients' attribution to them.

Each is one transaction that records its audit event. A change of the partner who introduced a
client is a maker-checker action (``ib.attribution_change``, ``ib/approval_actions.py``): it moves
commissions from one partner to another.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ib import errors
from ib.errors import PartnerError
from ib.locks import partner_lock
from ib.models import Attribution, AttributionSource, Partner, PartnerStatus
from ib.selectors import attribution_at, partner_by_code
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny

CODE = re.compile(r"^[A-Za-z0-9-]{3,32}$")


def partner_can_create(actor: User) -> Decision:
    """Add a partner, at the top of the hierarchy or under another."""
    if not actor.is_authenticated or not actor.has_perm("ops.manage_partners"):
        return deny(errors.NOT_ALLOWED_MANAGE)
    return ALLOWED


def _new_code() -> str:
    while True:
        code = f"IB-{secrets.token_hex(3).upper()}"
        if not Partner.objects.filter(code=code).exists():
            return code


def _snapshot(partner: Partner) -> dict[str, Any]:
    return {
        "name": partner.name,
        "code": partner.code,
        "status": partner.status,
        "parent": Partner.objects.get_parent(partner).name if partner.depth > 1 else None,
        "client": partner.client.reference if partner.client else None,
    }


@transaction.atomic(durable=True)
def partner_create(
    *,
    name: str,
    actor: User,
    parent_id: int | None = None,
    code: str = "",
    email: str = "",
    client: Any = None,
) -> Partner:
    """A new partner, a master IB (no parent) or a sub-IB under ``parent_id``."""
    partner_can_create(actor).require(PartnerError)
    name, code, email = name.strip(), code.strip().upper(), email.strip()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "A partner needs a name."
    if code and not CODE.match(code):
        problems["code"] = errors.CODE_FORMAT
    elif code and (taken := Partner.objects.filter(code__iexact=code).first()) is not None:
        problems["code"] = errors.CODE_TAKEN.format(code=code, partner=taken.name)
    if client is not None and (other := Partner.objects.filter(client=client).first()) is not None:
        problems["client"] = errors.CLIENT_IS_PARTNER_ELSEWHERE.format(client=client, partner=other.name)
    parent = None
    if parent_id is not None:
        parent = partner_lock(parent_id)
        if parent.status != PartnerStatus.ACTIVE:
            problems["parent"] = errors.PARENT_NOT_ACTIVE.format(
                partner=parent.name, status=PartnerStatus(parent.status).label.lower()
            )
    if problems:
        raise ValidationError(problems)
    fields = {"name": name, "code": code or _new_code(), "email": email, "client": client}
    try:
        with transaction.atomic():
            if parent is not None:
                partner = Partner.objects.add_child(parent, create_kwargs=fields)
            else:
                partner = Partner.objects.add_root(create_kwargs=fields)
    except IntegrityError:  # the same code taken by a concurrent request
        raise ValidationError(
            {"code": errors.CODE_TAKEN.format(code=fields["code"], partner="another partner")}
        ) from None
    audit_record(action=AuditAction.PARTNER_CREATED, subject=partner, after=_snapshot(partner))
    return partner


@transaction.atomic
def attribution_open(
    *, client: Any, partner: Partner, valid_from: datetime, source: str, campaign: str = "", reason: str = "",
    approval: ApprovalRequest | None = None,
) -> Attribution:  # fmt: skip
    if partner.status != PartnerStatus.ACTIVE:
        raise PartnerError(
            errors.PARTNER_NOT_ACTIVE.format(partner=partner.name, status=PartnerStatus(partner.status).label.lower())
        )
    attribution = Attribution(
        client=client, partner=partner, campaign=campaign.strip()[:64], source=source, valid_from=valid_from,
        reason=reason, approval=approval,
    )  # fmt: skip
    attribution.full_clean(exclude=["client", "partner", "approval"], validate_constraints=False)
    attribution._change_reason = reason or source  # type: ignore[attr-defined]
    attribution.save()
    audit_record(
        action=AuditAction.ATTRIBUTION_OPENED,
        subject=client,
        after={"partner": partner.name, "code": partner.code, "campaign": attribution.campaign,
               "from": valid_from.isoformat(), "source": source},
        reason=reason,
    )  # fmt: skip
    return attribution


def attribution_on_registration(client: Any, referral: dict[str, str]) -> None:
    """The registration hook (``accounts.services.clients.register_registration_hook``): a referral
    code given at registration attributes the new client, in the registration's own transaction; an
    unknown code or an inactive partner is a field error and nothing is registered."""
    code = (referral.get("referral_code") or "").strip()
    if not code:
        return
    partner = partner_by_code(code)
    if partner is None:
        raise ValidationError({"referral_code": errors.UNKNOWN_CODE.format(code=code)})
    if partner.status != PartnerStatus.ACTIVE:
        raise ValidationError(
            {"referral_code": errors.PARTNER_NOT_ACTIVE.format(
                partner=partner.name, status=PartnerStatus(partner.status).label.lower())}
        )  # fmt: skip
    attribution_open(
        client=client, partner=partner, valid_from=timezone.now(), source=AttributionSource.REFERRAL,
        campaign=referral.get("campaign", ""), reason=f"referral code {partner.code}",
    )  # fmt: skip


def effective_moment(day: date) -> datetime:
    """The start of ``day`` in the broker's time zone: when a change of partner takes effect."""
    return timezone.make_aware(datetime.combine(day, time.min))


def attribution_change(
    *, client: Any, partner: Partner, effective_from: date, campaign: str, request: ApprovalRequest
) -> Attribution:
    """Carry out an approved change of partner (inside the engine's transaction): the period in
    force ends where the new one starts. A change dated today takes effect now."""
    start = max(effective_moment(effective_from), timezone.now())
    for current in Attribution.objects.select_for_update().filter(client=client, valid_to__isnull=True):
        before = {"partner": current.partner.name, "from": current.valid_from.isoformat(), "to": None}
        current.valid_to = start
        current._change_reason = f"approval #{request.pk}"  # type: ignore[attr-defined]
        current.save(update_fields=["valid_to"])
        audit_record(
            action=AuditAction.ATTRIBUTION_CLOSED, subject=client, before=before,
            after={**before, "to": start.isoformat()}, reason=f"approval #{request.pk}: {request.reason}",
        )  # fmt: skip
    return attribution_open(
        client=client, partner=partner, valid_from=start, source=AttributionSource.STAFF, campaign=campaign,
        reason=f"approval #{request.pk}: {request.reason}", approval=request,
    )  # fmt: skip


def attribution_check_change(client: Any, partner: Partner, effective_from: date) -> None:
    """What a change of partner must satisfy when asked for and again when approved."""
    from accounts.models import ClientStatus

    if client.status == ClientStatus.CLOSED:
        raise PartnerError(errors.CLIENT_CLOSED.format(client=client.display_name))
    if partner.status != PartnerStatus.ACTIVE:
        raise PartnerError(
            errors.PARTNER_NOT_ACTIVE.format(partner=partner.name, status=PartnerStatus(partner.status).label.lower())
        )
    if effective_from < timezone.localdate():
        raise PartnerError(errors.EFFECTIVE_IN_PAST.format(date=effective_from.isoformat()))
    current = attribution_at(client)
    if current is not None and current.partner_id == partner.pk:
        raise PartnerError(errors.SAME_PARTNER.format(client=client.display_name, partner=partner.name))
