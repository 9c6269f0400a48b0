"""Reads of the accounts app, scoped to what the viewer may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from accounts import errors
from accounts.models import Client, ClientLink, ClientSignIn, SignInOutcome
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny


def clients_visible_to(user: User) -> QuerySet[Client]:
    """Staff with the view-client-status permission see every client; anyone else only the clients
    they were given per-object access to (desk- or partner-scoped)."""
    if user.has_perm("ops.view_client_status"):
        return Client.objects.all()
    return get_objects_for_user(user, "accounts.view_client_record", klass=Client, accept_global_perms=False)


def client_can_list(user: User) -> Decision:
    """The client list (page, API, nav): staff whose role sees clients, and staff given some
    clients per object (who see only those)."""
    if user.has_perm("ops.view_client_status") or clients_visible_to(user).exists():
        return ALLOWED
    return deny(errors.NO_CLIENTS)


def client_is_visible_to(user: User, client: Client) -> bool:
    """The object-level half of every client permission: is ``client`` in ``user``'s scope?"""
    return user.has_perm("ops.view_client_status") or user.has_perm("accounts.view_client_record", client)


def clients_writable_by(user: User) -> QuerySet[Client]:
    """The clients ``user`` may act on: per-object (desk- or partner-scoped) access is read-only, so
    only staff whose role sees every client act on one; which actions, the action's can-function
    (``accounts.services``) decides."""
    if user.has_perm("ops.view_client_status"):
        return Client.objects.all()
    return Client.objects.none()


def client_get_for(user: User, client_id: int, *, for_write: bool) -> Client:
    """The client as ``user`` may see it (404 outside their scope). ``for_write``: the caller is
    about to act on it, which read-only (per-object) scope does not allow."""
    scope = clients_writable_by(user) if for_write else clients_visible_to(user)
    client = scope.select_related("account_type", "account_manager").filter(pk=client_id).first()
    if client is None:
        raise Http404("No such client.")
    return client


def client_area_client_get(client_id: int, *, for_write: bool) -> Client:
    """A client as the broker's client area (server to server, with its ``client_area`` API key)
    reaches it: every client of the broker, because the portal signs its own end users in and acts
    for each of them (404: no such client). ``for_write``: about to act for the client (a closed
    client's record stays readable, but nothing is done for it: the services' capabilities say so)."""
    client = Client.objects.select_related("account_type").filter(pk=client_id).first()
    if client is None:
        raise Http404("No such client.")
    return client


def client_list(
    *,
    user: User,
    q: str = "",
    status: str = "",
    kind: str = "",
    account_type: str = "",
    country: str = "",
    risk_level: str = "",
    manager: str = "",
) -> QuerySet[Client]:
    clients = clients_visible_to(user).select_related("account_type", "account_manager")
    if q:
        q = q.strip()
        # "Noah Smith": every word is found in one of the name fields.
        name = Q()
        for word in q.split():
            name &= Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(legal_name__icontains=word)
        match = Q(email__iexact=q) | Q(reference__iexact=q) | name
        if q.isascii() and q.isdigit() and int(q) <= 2**63 - 1:  # an id the database can compare
            match |= Q(pk=int(q))
        clients = clients.filter(match)
    filters: dict[str, Any] = {
        "status": status,
        "kind": kind,
        "account_type__code": account_type,
        "country": country.upper() if country else "",
        "risk_level": risk_level,
        "account_manager__username": manager,
    }
    return clients.filter(**{k: v for k, v in filters.items() if v}).order_by("-created_at", "-id")


def client_links(client: Client) -> list[ClientLink]:
    return list(
        ClientLink.objects.filter(Q(client=client) | Q(other=client)).select_related("client", "other").order_by("id")
    )


def client_evidence_part(client: Client, subjects: set[tuple[str, str]]) -> Any:
    """The evidence pack's profile: the client as it is, every version of it (simple_history), its
    trading accounts and related parties."""
    from audit.evidence import EvidencePart, history_rows

    profile = {f.attname: getattr(client, f.attname) for f in client._meta.concrete_fields}
    profile["country"] = str(client.country)
    profile["nationality"] = str(client.nationality)
    accounts = list(client.trading_accounts.order_by("id"))
    return EvidencePart(
        files={
            "profile.json": profile | {"status_name": client.get_status_display(), "display_name": client.display_name},
            "profile_history.json": history_rows(client.history.order_by("history_date", "history_id")),
            "trading_accounts.json": [
                {f.attname: getattr(a, f.attname) for f in a._meta.concrete_fields} for a in accounts
            ],
        },
        subjects={("accounts.tradingaccount", str(a.pk)) for a in accounts},
    )


# --- client-area sign-ins ----------------------------------------------------------------------------

SIGN_IN_HISTORY_ROWS = 25
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))  # fmt: skip


def user_agent_label(user_agent: str) -> str:
    """``Firefox on Windows``: what a person reads instead of the raw user agent."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:40]


def client_sign_ins(client: Client) -> QuerySet[ClientSignIn]:
    """A client's sign-ins to the client area (the client-area API; newest first)."""
    return ClientSignIn.objects.filter(client=client)


def client_sign_in_history(user: User, client: Client, *, limit: int = SIGN_IN_HISTORY_ROWS) -> dict[str, Any]:
    """The client 360's sign-in history: the latest sign-ins (browser, IP address and the country the
    portal placed it in, named, marked when it is not the country of residence; device, outcome),
    and for each IP address and device shown, the other clients who signed in from it (those the
    viewer may see by name; the rest counted)."""
    rows = list(ClientSignIn.objects.filter(client=client).order_by("-at", "-id")[:limit])
    ips = {r.ip_address for r in rows if r.ip_address}
    devices = {r.device_id for r in rows if r.device_id}
    others = (
        ClientSignIn.objects.filter(Q(ip_address__in=ips) | Q(device_id__in=devices))
        .exclude(client=client)
        .values_list("client_id", "ip_address", "device_id")
        .distinct()
    )
    by_ip: dict[str, set[int]] = {}
    by_device: dict[str, set[int]] = {}
    for other_id, ip, device in others:
        if ip in ips:
            by_ip.setdefault(ip, set()).add(other_id)
        if device in devices:
            by_device.setdefault(device, set()).add(other_id)
    wanted = set().union(*by_ip.values(), *by_device.values())
    visible = {c.pk: c for c in clients_visible_to(user).filter(pk__in=wanted)}

    def named(ids: set[int]) -> dict[str, Any]:
        shown = sorted((visible[i] for i in ids if i in visible), key=lambda c: c.display_name)
        return {"clients": shown, "hidden": len(ids) - len(shown)}

    device_numbers: dict[str, int] = {}
    for r in reversed(rows):  # "Device 1" is the oldest device shown
        if r.device_id and r.device_id not in device_numbers:
            device_numbers[r.device_id] = len(device_numbers) + 1
    history = [
        {
            "sign_in": r,
            "country": r.country.name if r.country else "",
            "abroad": bool(r.country) and bool(client.country) and r.country != client.country,
            "browser": user_agent_label(r.user_agent),
            "device": f"Device {device_numbers[r.device_id]}" if r.device_id else "Unknown device",
            "device_source": r.get_device_source_display() if r.device_source else "",
            "shared_ip": named(by_ip.get(r.ip_address or "", set())),
            "shared_device": named(by_device.get(r.device_id, set())),
        }
        for r in rows
    ]
    return {
        "rows": history,
        "total": ClientSignIn.objects.filter(client=client).count(),
        "failed": ClientSignIn.objects.filter(client=client, outcome=SignInOutcome.FAILED).count(),
        "residence": client.country.name if client.country else "",
    }
