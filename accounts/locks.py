from __future__ import annotations

from django.db import connection
from django.shortcuts import get_object_or_404

from accounts.models import Client


def client_lock(client_id: int) -> Client:
    return get_object_or_404(
        Client.objects.select_for_update(of=("self",)).select_related("account_type"), pk=client_id
    )


def client_identity_lock(*identities: str) -> None:
    """Serialise registrations that share an identity (a normalised e-mail, phone, or name and date
    of birth) until commit, so the second sees the first and is flagged as its possible duplicate.
    Transaction-level advisory locks, taken in sorted order (no deadlock between two registrations)."""
    with connection.cursor() as cursor:
        for identity in sorted(set(identities)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"client-identity:{identity}"])
