from __future__ import annotations

from django.shortcuts import get_object_or_404

from accounts.models import Client


def client_lock(client_id: int) -> Client:
    return get_object_or_404(
        Client.objects.select_for_update(of=("self",)).select_related("account_type"), pk=client_id
    )
