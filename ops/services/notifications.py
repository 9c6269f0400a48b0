from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ops.models import StaffNotification, User


@transaction.atomic
def notify(*, recipients: Iterable[User], title: str, body: str = "", link: str = "") -> int:
    """In-app notices, written in the transaction of the event they announce."""
    notes = [
        StaffNotification(recipient=r, title=title[:200], body=body, link=link)
        for r in {u.pk: u for u in recipients}.values()
    ]
    for note in notes:
        note.save()
    return len(notes)


@transaction.atomic(durable=True)
def notifications_mark_read(*, user: User) -> None:
    for note in StaffNotification.objects.filter(recipient=user, read_at__isnull=True).select_for_update():
        note.read_at = timezone.now()
        note.save(update_fields=["read_at"])
