"""Row locks of the ib app, each in a fixed order."""

from __future__ import annotations

from ib.models import Partner


def partner_lock(partner_id: int) -> Partner:
    """The partner, locked: two sub-partners added under it at once get different paths."""
    return Partner.objects.select_for_update(of=("self",)).get(pk=partner_id)
