"""API keys: who gets in with which key (one persona, one exact status), rotation with overlap,
four eyes on a new or wider key, the audit trail naming the key's owner, and the per-key rate
limit (counted in the embedded Redis)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.models import Client
from audit.models import AuditEvent
from ib.models import Partner
from ops import errors
from ops.api_keys import api_key_can, api_key_owner_actor, token_hash
from ops.errors import OpsError
from ops.models import ApiKey, ApiKeyStatus, ApprovalStatus, User
from ops.roles import Role
from ops.services import api_keys as key_services
from ops.services.approvals import approval_decide
from tests.factories import approvable_client, staff
from tests.ib.factories import tree
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

CLIENTS = "/api/v1/staff/clients/"
WITHDRAWALS = "/api/v1/staff/withdrawals/"
PAYLOAD = {
    "kind": "individual", "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10",
    "country": "GB", "email": "ada@example.test", "phone": "+44 20 7946 0000", "account_type": "pro",
    "base_currency": "USD",
}  # fmt: skip


@pytest.fixture
def admins() -> tuple[User, User]:
    return staff(Role.ADMIN, username="maker-admin"), staff(Role.ADMIN, username="checker-admin")


def issued(
    admins: tuple[User, User], owner: Any, scopes: list[str], *, kind: str = "staff", **fields: Any
) -> tuple[ApiKey, str]:
    """A key asked for by one administrator and approved by the other: (the key, its secret)."""
    maker, checker = admins
    made = key_services.api_key_request(
        maker=maker, name=fields.pop("name", "test key"), owner_kind=kind, owner=owner, scopes=scopes,
        allowed_ips=fields.pop("allowed_ips", []), expires_at=fields.pop("expires_at", None),
        rate_per_minute=fields.pop("rate_per_minute", None), reason="integration test",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=checker, decision="approve", reason="checked")
    return ApiKey.objects.get(pk=made.key.pk), made.token


def call(token: str | None, url: str = CLIENTS, method: str = "get", **extra: Any) -> Any:
    http = HttpClient()
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    headers |= extra
    if method == "post":
        return http.post(url, headers.pop("data", {}), content_type="application/json", **headers)
    return http.get(url, **headers)


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:400]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://backoffice.invalid/problems/{kind}", body
    return body


# --- the personas of the key -----------------------------------------------------------------------


def test_bad_no_key_is_a_401_naming_the_bearer_scheme() -> None:
    response = call(None)
    problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_bad_unknown_or_mistyped_key_is_a_401(admins: tuple[User, User]) -> None:
    _, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    problem(call(token[:-1] + ("A" if token[-1] != "A" else "B")), 401, "api_key_invalid")
    problem(call("bo_nonsense"), 401, "api_key_invalid")


def test_bad_revoked_key_is_a_401_saying_so(admins: tuple[User, User]) -> None:
    key, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    assert call(token).status_code == 200
    key_services.api_key_revoke(key_id=key.pk, actor=admins[1], reason="laptop stolen")
    body = problem(call(token), 401, "api_key_revoked")
    assert key.prefix in body["detail"] and "revoked" in body["detail"]
    assert AuditEvent.objects.get(action="api_key.revoked").reason == "laptop stolen"


def test_bad_expired_key_is_a_401_saying_so(admins: tuple[User, User]) -> None:
    key, token = issued(admins, staff(Role.SUPPORT), ["clients:read"], expires_at=timezone.now() + timedelta(days=1))
    assert call(token).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # time passes
    body = problem(call(token), 401, "api_key_expired")
    assert "expired" in body["detail"]


def test_bad_key_without_the_scope_is_a_403_naming_it(admins: tuple[User, User]) -> None:
    _, token = issued(admins, staff(Role.FINANCE), ["payments:read"])
    body = problem(call(token, CLIENTS), 403, "api_key_scope_missing")
    assert (body["required_scope"], body["key_scopes"]) == ("clients:read", ["payments:read"])
    assert call(token, WITHDRAWALS).status_code == 200
    # reading is not writing: payments:read does not enter a withdrawal
    body = problem(call(token, WITHDRAWALS, "post", data={}), 403, "api_key_scope_missing")
    assert body["required_scope"] == "payments:write"


def test_bad_key_from_outside_its_allow_list_is_a_403(admins: tuple[User, User]) -> None:
    _, token = issued(admins, staff(Role.SUPPORT), ["clients:read"], allowed_ips=["203.0.113.0/24"])
    body = problem(call(token), 403, "api_key_ip_not_allowed")
    assert "127.0.0.1" in body["detail"]
    assert call(token, REMOTE_ADDR="203.0.113.9").status_code == 200


def test_good_key_with_the_scope_lists_clients(admins: tuple[User, User]) -> None:
    c = approvable_client()
    _, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    response = call(token)
    assert response.status_code == 200
    assert [row["reference"] for row in response.json()["results"]] == [c.reference]


def test_bad_staff_key_still_needs_its_owners_role(admins: tuple[User, User]) -> None:
    """Permissions twice: the key's scope, then the owner's role (a key never adds a role)."""
    _, token = issued(admins, staff(Role.RISK), ["clients:read", "clients:write"])
    assert call(token).status_code == 200  # risk reads client status
    problem(call(token, CLIENTS, "post", data=PAYLOAD), 403, "permission_denied")  # but registers no client


def test_bad_partner_key_gets_no_staff_data(admins: tuple[User, User]) -> None:
    (partner,) = tree("KEYP")
    _, token = issued(admins, partner, ["partner:read"], kind="partner")
    body = problem(call(token), 403, "api_key_scope_missing")
    assert body["required_scope"] == "clients:read"


def test_bad_a_partner_key_cannot_hold_staff_scopes(admins: tuple[User, User]) -> None:
    (partner,) = tree("KEYQ")
    with pytest.raises(OpsError, match="cannot be given to a key of a partner"):
        issued(admins, partner, ["clients:read"], kind="partner")
    assert not ApiKey.objects.exists()


def test_bad_key_of_a_deactivated_owner_is_a_401(admins: tuple[User, User]) -> None:
    owner = staff(Role.SUPPORT)
    _, token = issued(admins, owner, ["clients:read"])
    User.objects.filter(pk=owner.pk).update(is_active=False)
    problem(call(token), 401, "api_key_owner_inactive")


def test_only_the_hash_is_stored(admins: tuple[User, User]) -> None:
    key, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    assert token.startswith(f"bo_{key.prefix}_") and key.secret_hash == token_hash(token)
    assert token.split("_", 2)[2] not in str(list(AuditEvent.objects.values_list("before", "after")))


def test_api_key_can_is_the_one_scope_check(admins: tuple[User, User]) -> None:
    key, _ = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    assert api_key_can(key, "clients:read")
    refused = api_key_can(key, "clients:write")
    assert not refused and refused.reason == errors.API_KEY_SCOPE_MISSING.format(
        prefix=key.prefix, scope="clients:write", held="clients:read"
    )


# --- four eyes ---------------------------------------------------------------------------------------


def test_creation_needs_a_second_admin(admins: tuple[User, User]) -> None:
    maker, checker = admins
    made = key_services.api_key_request(
        maker=maker, name="crm", owner_kind="staff", owner=staff(Role.SUPPORT), scopes=["clients:read"],
        allowed_ips=[], expires_at=None, rate_per_minute=None, reason="CRM sync",
    )  # fmt: skip
    problem(call(made.token), 401, "api_key_not_active")  # asked for, not approved: no use yet
    with pytest.raises(OpsError, match="a different person must decide"):
        approval_decide(request_id=made.approval.pk, checker=maker, decision="approve", reason="mine")
    support = staff(Role.SUPPORT)
    with pytest.raises(OpsError):
        approval_decide(request_id=made.approval.pk, checker=support, decision="approve", reason="not an admin")
    problem(call(made.token), 401, "api_key_not_active")
    approval_decide(request_id=made.approval.pk, checker=checker, decision="approve", reason="ok")
    assert call(made.token).status_code == 200
    assert ApiKey.objects.get(pk=made.key.pk).status == ApiKeyStatus.ACTIVE


def test_rejected_key_never_works(admins: tuple[User, User]) -> None:
    maker, checker = admins
    made = key_services.api_key_request(
        maker=maker, name="crm", owner_kind="client_area", owner=None, scopes=["client_area"],
        allowed_ips=[], expires_at=None, rate_per_minute=None, reason="portal",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=checker, decision="reject", reason="no")
    assert ApiKey.objects.get(pk=made.key.pk).status == ApiKeyStatus.REFUSED
    problem(call(made.token), 401, "api_key_not_active")


def test_only_an_admin_asks_for_a_key() -> None:
    support = staff(Role.SUPPORT)
    with pytest.raises(OpsError, match="Only administrators"):
        key_services.api_key_request(
            maker=support, name="x", owner_kind="staff", owner=support, scopes=["clients:read"],
            allowed_ips=[], expires_at=None, rate_per_minute=None, reason="me",
        )  # fmt: skip


def test_widening_scopes_needs_a_second_admin_narrowing_does_not(admins: tuple[User, User]) -> None:
    maker, checker = admins
    key, token = issued(admins, staff(Role.FINANCE), ["payments:read"])
    request = key_services.api_key_scopes_change(
        key_id=key.pk, actor=maker, scopes=["payments:read", "payments:write"], reason="enter withdrawals"
    )
    assert request is not None and request.status == ApprovalStatus.PENDING
    assert ApiKey.objects.get(pk=key.pk).scopes == ["payments:read"]  # not before the approval
    approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="ok")
    assert ApiKey.objects.get(pk=key.pk).scopes == ["payments:read", "payments:write"]
    assert (
        key_services.api_key_scopes_change(key_id=key.pk, actor=maker, scopes=["payments:read"], reason="less") is None
    )
    assert ApiKey.objects.get(pk=key.pk).scopes == ["payments:read"]
    assert call(token, WITHDRAWALS).status_code == 200


# --- rotation ----------------------------------------------------------------------------------------


def test_rotation_keeps_the_old_key_working_until_the_overlap_ends(admins: tuple[User, User]) -> None:
    old, old_token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    rotated = key_services.api_key_rotate(
        key_id=old.pk, actor=admins[0], overlap_until=timezone.now() + timedelta(hours=1), reason="yearly"
    )
    assert rotated.new.scopes == ["clients:read"] and rotated.new.replaces_id == old.pk
    assert call(rotated.token).status_code == 200  # the new one works at once, without approval
    assert call(old_token).status_code == 200  # and the old one during the overlap
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # the overlap ends
    problem(call(old_token), 401, "api_key_expired")
    assert call(rotated.token).status_code == 200
    with pytest.raises(OpsError, match="expired"):
        key_services.api_key_rotate(
            key_id=old.pk, actor=admins[0], overlap_until=timezone.now() + timedelta(hours=1), reason="again"
        )


def test_bad_rotation_overlap_beyond_the_limit_is_refused(admins: tuple[User, User]) -> None:
    old, _ = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    with pytest.raises(OpsError, match="at most 30 days"):
        key_services.api_key_rotate(
            key_id=old.pk, actor=admins[0], overlap_until=timezone.now() + timedelta(days=31), reason="long"
        )
    assert ApiKey.objects.count() == 1


# --- the audit trail ---------------------------------------------------------------------------------


def test_audit_rows_name_the_key_owner(admins: tuple[User, User]) -> None:
    owner = staff(Role.SUPPORT, username="sync-bot-owner")
    key, token = issued(admins, owner, ["clients:read", "clients:write"])
    response = call(token, CLIENTS, "post", data=PAYLOAD)
    assert response.status_code == 201, response.content[:400]
    client = Client.objects.get(reference=response.json()["reference"])
    event = AuditEvent.objects.get(action="client.registered", subject_id=str(client.pk))
    assert (event.actor_kind, event.actor_id) == ("staff", str(owner.pk))
    assert event.actor_label == f"sync-bot-owner (API key {key.prefix})"


def test_partner_and_client_area_keys_are_attributed_to_their_owner(admins: tuple[User, User]) -> None:
    (partner,) = tree("ATTR")
    partner_key, _ = issued(admins, partner, ["partner:read"], kind="partner")
    actor = api_key_owner_actor(partner_key)
    assert (actor.kind, actor.ident, actor.label) == (
        "partner",
        str(partner.pk),
        f"partner:ATTR (API key {partner_key.prefix})",
    )
    portal, _ = issued(admins, None, ["client_area"], kind="client_area", name="portal")
    actor = api_key_owner_actor(portal)
    assert (actor.kind, actor.label) == ("system", f"client-area:portal (API key {portal.prefix})")
    assert Partner.objects.get(pk=partner.pk).code == "ATTR"


def test_a_refused_key_call_is_in_the_security_log(admins: tuple[User, User]) -> None:
    from audit.models import SecurityEvent

    _, token = issued(admins, staff(Role.FINANCE), ["payments:read"])
    call(token, CLIENTS)
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status) == ("refused", 403) and "lacks the scope" in event.reason


# --- rate limit --------------------------------------------------------------------------------------


def test_rate_limit_is_a_429_with_retry_after(admins: tuple[User, User]) -> None:
    _, token = issued(admins, staff(Role.SUPPORT), ["clients:read"], rate_per_minute=3)
    assert [call(token).status_code for _ in range(3)] == [200, 200, 200]
    response = call(token)
    problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    # another key has its own budget
    _, other = issued(admins, staff(Role.SUPPORT), ["clients:read"], rate_per_minute=3)
    assert call(other).status_code == 200


# --- the page ----------------------------------------------------------------------------------------


def test_page_request_shows_the_secret_once_and_another_admin_approves(admins: tuple[User, User]) -> None:
    maker, checker = admins
    owner = staff(Role.SUPPORT, username="page-owner")
    http = sign_in(HttpClient(), maker)
    form = {
        "name": "reporting", "owner": f"staff:{owner.pk}", "scopes": ["clients:read"], "allowed_ips": "",
        "expires_on": "", "rate_per_minute": "", "reason": "BI export",
    }  # fmt: skip
    response = http.post("/staff/api-keys/request/", form)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = response.context["token"]
    assert token in response.content.decode()
    key = ApiKey.objects.get()
    assert key.secret_hash == token_hash(token) and key.status == ApiKeyStatus.PENDING
    listing = http.get("/staff/api-keys/").content.decode()
    assert key.prefix in listing and token not in listing  # never shown again
    approval = response.context["approval"]
    assert (
        http.post(
            f"/approvals/{approval.pk}/decide/",
            {"decision": "approve", "reason": "mine", "payload_hash": approval.payload_hash},
        ).status_code
        == 403
    )
    other = sign_in(HttpClient(), checker)
    decided = other.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "approve", "reason": "ok", "payload_hash": approval.payload_hash},
    )
    assert decided.status_code == 302
    assert call(token).status_code == 200
    assert token not in other.get(f"/approvals/{approval.pk}/").content.decode()


def test_bad_page_request_with_a_bad_network_is_a_form_error(admins: tuple[User, User]) -> None:
    http = sign_in(HttpClient(), admins[0])
    form = {"name": "x", "owner": "client_area", "scopes": ["client_area"], "allowed_ips": "10.0.0.300", "reason": "r"}
    response = http.post("/staff/api-keys/request/", form)
    assert response.status_code == 409
    assert "not an IP address or network" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_page_revoke_is_immediate_and_audited(admins: tuple[User, User]) -> None:
    key, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    http = sign_in(HttpClient(), admins[0])
    assert http.post(f"/staff/api-keys/{key.pk}/revoke/", {"reason": "leaked in a log"}).status_code == 302
    problem(call(token), 401, "api_key_revoked")
    event = AuditEvent.objects.get(action="api_key.revoked", subject_id=str(key.pk))
    assert (event.actor_label, event.reason) == ("maker-admin", "leaked in a log")


def test_bad_page_is_for_administrators_only() -> None:
    http = sign_in(HttpClient(), staff(Role.SUPPORT))
    assert http.get("/staff/api-keys/").status_code == 403


# --- the versioned paths -----------------------------------------------------------------------------


def test_old_paths_redirect_permanently_to_v1() -> None:
    response = HttpClient().post("/api/staff/clients/?x=1", {}, content_type="application/json")
    assert (response.status_code, response["Location"]) == (308, "/api/v1/staff/clients/?x=1")


def test_cursor_pagination_walks_every_client_once(admins: tuple[User, User]) -> None:
    made = {approvable_client().reference for _ in range(5)}
    _, token = issued(admins, staff(Role.SUPPORT), ["clients:read"])
    seen: list[str] = []
    url: str | None = f"{CLIENTS}?page_size=2"
    while url:
        body = call(token, url).json()
        seen += [row["reference"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    problem(call(token, f"{CLIENTS}?cursor=not-a-cursor"), 400, "invalid")


def test_every_v1_api_view_declares_its_key_scope() -> None:
    """A new endpoint lists ``requires_scope(...)``; without it every key is refused (fail closed),
    and this test names it."""
    from django.urls import get_resolver

    from ops.api import KeyScopePermission

    views: list[Any] = []

    def walk(patterns: Any, prefix: str) -> None:
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif (prefix + str(p.pattern)).startswith("api/v1/") and hasattr(p.callback, "cls"):
                views.append(p.callback.cls)

    walk(get_resolver().url_patterns, "")
    assert views
    for cls in views:
        if cls.__name__ == "APIRootView":
            continue
        assert any(issubclass(p, KeyScopePermission) for p in cls.permission_classes), cls
