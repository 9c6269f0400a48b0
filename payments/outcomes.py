"""What applying an outside message (a PSP callback, a statement line) did, in the domain's words.

Services answer with an :class:`Outcome`; the inbox records it as the stored event's status and
the webhook view turns it into the PSP's answer. No service returns a webhook status string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Effect(StrEnum):
    APPLIED = "applied"  # it changed something: a deposit credited or failed, a payout settled
    NO_EFFECT = "no_effect"  # repeated or out of order (the payment is already final), or not used
    REFUSED = "refused"  # it could not be applied; a person has it in the reconciliation queue


@dataclass(frozen=True)
class Outcome:
    effect: Effect
    detail: str

    @classmethod
    def applied(cls, detail: str) -> Outcome:
        return cls(Effect.APPLIED, detail)

    @classmethod
    def no_effect(cls, detail: str) -> Outcome:
        return cls(Effect.NO_EFFECT, detail)

    @classmethod
    def refused(cls, detail: str) -> Outcome:
        return cls(Effect.REFUSED, detail)
