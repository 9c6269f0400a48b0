"""API keys as a machine holds them: asked for by one administrator, approved by another."""

from __future__ import annotations

from typing import Any

from ops.roles import Role
from tests.factories import staff


def approved_key(owner: Any, scopes: list[str], *, kind: str, name: str = "test key", rate: int | None = None) -> str:
    """A working key's secret (``bo_<prefix>_<secret>``), made through the normal services."""
    from ops.services.api_keys import api_key_request
    from ops.services.approvals import approval_decide

    made = api_key_request(
        maker=staff(Role.ADMIN), name=name, owner_kind=kind, owner=owner, scopes=scopes, allowed_ips=[],
        expires_at=None, rate_per_minute=rate, reason="test",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=staff(Role.ADMIN), decision="approve", reason="checked")
    return made.token


def client_area_key(*, rate: int | None = None) -> str:
    return approved_key(None, ["client_area"], kind="client_area", name="portal", rate=rate)
