"""The answer of a permission check: one ``<entity>_can_<verb>(actor, obj) -> Decision`` per action.

Each sensitive action has exactly one such function, next to its service. The service enforces it
(``decision.require(SomeError)``); views, templates, the nav and the API read the same function,
so a button is offered exactly when the service would accept the click, and the reason a person
may not do something is shown in words, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.context import refusal_noted  # a leaf module too: the security log reads the reason


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    def require(self, error: type[Exception]) -> None:
        """Raise ``error(reason)`` when the action is not allowed (the reason also goes to the
        security log, should the refusal end the request as a 403)."""
        if not self.allowed:
            refusal_noted(self.reason)
            raise error(self.reason)


ALLOWED = Decision(True)


def deny(reason: str) -> Decision:
    """A refusal with the reason shown to the person (a constant from the app's ``errors.py``)."""
    return Decision(False, reason)
