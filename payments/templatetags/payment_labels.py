"""Names for the codes payments stores: withdrawal pre-checks and flags, refund and rejection
reasons (the sentences staff chose them by), PSP failure codes."""

from __future__ import annotations

from django import template
from django.utils.text import capfirst

from payments.labels import withdrawal_check_label
from payments.services.deposits import REFUND_REASONS
from payments.services.withdrawals import CLIENT_REASONS

register = template.Library()


def _humanize(code: str) -> str:
    return str(capfirst(code.replace("_", " ")))


@register.filter
def withdrawal_check(code: str) -> str:
    """'first_withdrawal' -> 'First withdrawal'."""
    return withdrawal_check_label(code)


@register.filter
def refund_reason(code: str) -> str:
    """A returned deposit's reason ('third_party' -> 'Payments from third parties are not
    accepted'), or a PSP's failure code of a failed deposit ('card_declined' -> 'Card declined')."""
    return str(capfirst(REFUND_REASONS[code])) if code in REFUND_REASONS else _humanize(code)


@register.filter
def reject_reason(code: str) -> str:
    """A rejected withdrawal's reason (as the client was told it), or a PSP's payout failure code."""
    return str(capfirst(CLIENT_REASONS[code])) if code in CLIENT_REASONS else _humanize(code)
