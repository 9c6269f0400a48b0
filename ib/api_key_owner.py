"""Partners may own API keys (the partner API): registered with ops' owner-kind registry, so
ops never imports ib. A partner's key holds only partner scopes, works while the partner is
active, and its calls are attributed to the partner in the audit trail."""

from __future__ import annotations

from typing import Any

from audit.context import Actor, ActorKind
from ib.models import Partner, PartnerStatus
from ops.api_keys import OwnerKind, register_owner_kind
from ops.models import ApiKey, ApiKeyOwnerKind


def _actor(key: ApiKey, owner: Any) -> Actor:
    return Actor(ActorKind.PARTNER, str(owner.pk), f"partner:{owner.code} (API key {key.prefix})"[:150])


PARTNER_OWNER = register_owner_kind(
    OwnerKind(
        kind=ApiKeyOwnerKind.PARTNER,
        label="a partner",
        scopes=frozenset({"partner:read", "partner:write"}),
        model=Partner,
        choices=lambda: Partner.objects.filter(status=PartnerStatus.ACTIVE).order_by("name"),
        actor=_actor,
        is_active=lambda owner: owner.status == PartnerStatus.ACTIVE,
    )
)
