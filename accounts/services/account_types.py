from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import AccountType
from accounts.validation import currency_code
from audit.actions import AuditAction
from audit.services import audit_configure

CONFIGURABLE = (
    "name", "currencies", "default_leverage", "max_leverage", "platform_group", "min_deposit", "swap_free",
    "corporate_only", "is_active",
)  # fmt: skip


@transaction.atomic  # composed: the Django admin wraps its change view in a transaction
def account_type_configure(*, account_type_id: int | None, changes: dict[str, Any], reason: str) -> AccountType:
    """An admin creates or tunes an account type. Audited with the changed fields and the reason."""
    if not reason.strip():
        raise ValidationError({"change_reason": "A reason is required; it is recorded in the audit trail."})
    unknown = set(changes) - {*CONFIGURABLE, "code"}
    if unknown:
        raise ValidationError(f"These settings cannot be changed: {', '.join(sorted(unknown))}.")
    if "currencies" in changes:
        changes["currencies"] = [currency_code(c, "currencies") for c in changes["currencies"]]
    account_type = AccountType.objects.select_for_update().get(pk=account_type_id) if account_type_id else AccountType()
    # full_clean inside checks the model's constraints too (the default leverage within the maximum)
    audit_configure(account_type, changes=changes, reason=reason, action=AuditAction.ACCOUNT_TYPE_CONFIGURED)
    return account_type
