"""Who stands behind a corporate client, and which clients are related (multi-entity view)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum

from accounts.errors import ClientError
from accounts.locks import client_lock
from accounts.models import Client, ClientKind, ClientLink, LinkReason, PartyRole, RelatedParty
from accounts.services.clients import client_can_edit
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import User

OWNERSHIP_ROLES = (PartyRole.SHAREHOLDER, PartyRole.BENEFICIAL_OWNER)


@transaction.atomic(durable=True)
def client_party_add(
    *,
    client_id: int,
    role: str,
    name: str,
    actor: User,
    date_of_birth: date | None = None,
    country: str = "",
    ownership_pct: Decimal | None = None,
    is_pep: bool = False,
) -> RelatedParty:
    client = client_lock(client_id)
    client_can_edit(actor, client).require(ClientError)
    if client.kind != ClientKind.CORPORATE:
        raise ValidationError({"role": "Directors, shareholders, owners and signatories belong to corporate clients."})
    role = PartyRole(role)
    if ownership_pct is not None and role in OWNERSHIP_ROLES:
        held = RelatedParty.objects.filter(client=client, role=role).aggregate(total=Sum("ownership_pct"))["total"]
        if (held or Decimal("0")) + ownership_pct > Decimal("100"):
            raise ValidationError({"ownership_pct": f"{role.label} holdings would exceed 100% (already {held or 0}%)."})
    party = RelatedParty(
        client=client, role=role, name=name.strip(), date_of_birth=date_of_birth, country=country,
        ownership_pct=ownership_pct, is_pep=is_pep,
    )  # fmt: skip
    party.full_clean()
    party._change_reason = f"{role.label} added"  # type: ignore[attr-defined]
    party.save()
    audit_record(
        action=AuditAction.CLIENT_PARTY_ADDED,
        subject=client,
        after={"party": party.name, "role": role, "ownership_pct": ownership_pct, "pep": is_pep},
    )
    _link_same_owner(client, party)
    return party


def _link_same_owner(client: Client, party: RelatedParty) -> None:
    """The same beneficial owner behind another corporate client: link the two."""
    if party.role != PartyRole.BENEFICIAL_OWNER:
        return
    others = (
        RelatedParty.objects.filter(role=PartyRole.BENEFICIAL_OWNER, name__iexact=party.name)
        .exclude(client=client)
        .filter(Q(date_of_birth=party.date_of_birth) | Q(date_of_birth__isnull=True))
        .values_list("client_id", flat=True)
    )
    for other_id in set(others):
        _link(client, Client.objects.get(pk=other_id), LinkReason.SAME_UBO, f"both owned by {party.name}")


def _link(client: Client, other: Client, reason: str, note: str) -> ClientLink | None:
    """Link two clients for ``reason`` (audited); None if they already are."""
    if ClientLink.objects.filter(Q(client=client, other=other) | Q(client=other, other=client), reason=reason).exists():
        return None
    link = ClientLink(client=client, other=other, reason=reason, note=note[:300])
    link._change_reason = note  # type: ignore[attr-defined]
    link.save()
    audit_record(
        action=AuditAction.CLIENT_LINKED,
        subject=client,
        after={"other": other.reference, "reason": reason, "note": note},
    )
    return link


link_clients = _link  # for the other services of this app (duplicates at registration)


@transaction.atomic(durable=True)
def client_link_add(*, client_id: int, other_reference: str, reason: str, note: str, actor: User) -> ClientLink:
    client = client_lock(client_id)
    client_can_edit(actor, client).require(ClientError)
    other = Client.objects.filter(reference__iexact=other_reference.strip()).first()
    if other is None:
        raise ValidationError({"other_reference": f"No client with reference {other_reference!r}."})
    if other.pk == client.pk:
        raise ValidationError({"other_reference": "A client cannot be linked to itself."})
    link = _link(client, other, LinkReason(reason), note or LinkReason(reason).label)
    if link is None:
        raise ValidationError({"other_reference": "These clients are already linked for that reason."})
    return link


@transaction.atomic
def client_link_same_address(client: Client) -> int:
    """At registration: clients at the same address are linked for the risk view."""
    if not (client.address_line and client.postcode):
        return 0
    same = Client.objects.filter(
        address_line__iexact=client.address_line, postcode__iexact=client.postcode, country=client.country
    ).exclude(pk=client.pk)
    return sum(1 for other in same if _link(client, other, LinkReason.SAME_ADDRESS, "same address at registration"))
