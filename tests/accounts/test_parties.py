from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import ClientLink, LinkReason
from accounts.selectors import client_links
from accounts.services.parties import client_link_add, client_party_add
from ops.roles import Role
from tests.factories import approvable_client as client
from tests.factories import staff

pytestmark = pytest.mark.django_db


def test_corporate_parties_with_ownership_checks() -> None:
    corp = client(kind="corporate", account_type="corporate")
    support = staff(Role.SUPPORT)
    client_party_add(client_id=corp.pk, role="director", name="Jane Director", actor=support, country="GB")
    client_party_add(
        client_id=corp.pk,
        role="beneficial_owner",
        name="Olu Owner",
        actor=support,
        ownership_pct=Decimal("60"),
        is_pep=True,
    )
    with pytest.raises(ValidationError, match="would exceed 100%"):
        client_party_add(
            client_id=corp.pk, role="beneficial_owner", name="Too Much", actor=support, ownership_pct=Decimal("50")
        )
    assert [p.name for p in corp.parties.order_by("name")] == ["Jane Director", "Olu Owner"]
    with pytest.raises(ValidationError, match="belong to corporate clients"):
        client_party_add(client_id=client().pk, role="director", name="X", actor=support)


def test_same_beneficial_owner_links_the_companies() -> None:
    support = staff(Role.SUPPORT)
    a = client(kind="corporate", account_type="corporate")
    b = client(kind="corporate", account_type="corporate")
    client_party_add(
        client_id=a.pk, role="beneficial_owner", name="Olu Owner", actor=support, ownership_pct=Decimal("40")
    )
    client_party_add(
        client_id=b.pk, role="beneficial_owner", name="olu owner", actor=support, ownership_pct=Decimal("75")
    )
    link = ClientLink.objects.get()
    assert {link.client_id, link.other_id} == {a.pk, b.pk} and link.reason == LinkReason.SAME_UBO
    assert [lnk.pk for lnk in client_links(a)] == [link.pk]  # seen from both sides


def test_same_address_is_linked_at_registration_and_manual_links() -> None:
    first = client(address_line="1 High St", postcode="AB1 2CD")
    second = client(address_line="1 high st", postcode="ab1 2cd")
    assert ClientLink.objects.filter(client=second, other=first, reason=LinkReason.SAME_ADDRESS).exists()
    third = client()
    client_link_add(
        client_id=third.pk,
        other_reference=first.reference,
        reason="same_payment_instrument",
        note="card 4242",
        actor=staff(Role.SUPPORT),
    )
    with pytest.raises(ValidationError, match="already linked"):
        client_link_add(
            client_id=first.pk,
            other_reference=third.reference,
            reason="same_payment_instrument",
            note="",
            actor=staff(Role.SUPPORT),
        )
    with pytest.raises(ValidationError, match="No client with reference"):
        client_link_add(
            client_id=first.pk, other_reference="C9999999", reason="related", note="", actor=staff(Role.SUPPORT)
        )
