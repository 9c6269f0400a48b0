"""The registry of actions that need maker-checker approval.

An app registers each sensitive action once (in its ``AppConfig.ready``): what subject it acts on,
who may ask for it, which approval levels it needs for a given payload (the policy: action,
amount, risk), how to check the payload, and the handler that carries it out — exactly once, in
the transaction of the final approval.

``on_close`` is called, in the same transaction, when a request closes without being carried out
(a checker rejected it, its maker cancelled it, or it expired): the subject learns it will not
happen (a withdrawal under review is rejected and its funds released). The request's status says
which. Not called when the subject's own service withdraws the request (``approval_withdraw``).
``outside_makers``: the action may be asked for by someone who is not a staff member (a client, an
automation); the service that opens such a request names them.
``show``: the payload as the checker reads it (field name -> value in words); without it the
approval page shows the payload's own fields.
``panel``: what the checker should see beside the payload that is not part of it (computed when the
page is shown, e.g. what a new commission plan version would have paid): the template to include
on the approval page and its context, given the request.
``checkers_may_not_hold``: level role -> roles whose holders may not decide a level of that role
for this action (a staff grant checked by compliance must not be decided by a compliance officer
who is also an administrator). Read by ``approval_can_decide`` and the approvals inbox.
``checker_check``: (checker, request) -> a permission decision of the subject's own, read last by
``approval_can_decide`` (an agent's proposed withdrawal approval is decided only by someone who may
decide the withdrawal's own review now: not the person who entered it, not an earlier checker).

Whatever the action, a staff member may not be the subject of their own request (the engine
refuses it, and so does the database).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from ops import errors
from ops.errors import OpsError
from ops.roles import Role

Payload = dict[str, Any]


@dataclass(frozen=True)
class ApprovalAction:
    key: str
    label: str
    subject_model: type[models.Model]
    maker_permission: str
    policy: Callable[[models.Model, Payload], list[Role]]
    validate: Callable[[models.Model, Payload], None]
    execute: Callable[[models.Model, Payload, Any], dict[str, Any]]
    describe: Callable[[models.Model, Payload], str]
    expires_after_hours: int = 72
    on_close: Callable[[models.Model, Payload, Any], None] | None = None
    outside_makers: bool = False
    show: Callable[[Payload], dict[str, str]] | None = None
    checkers_may_not_hold: Mapping[Role, frozenset[Role]] = field(default_factory=dict)
    panel: Callable[[Any], tuple[str, dict[str, Any]]] | None = None
    checker_check: Callable[[Any, Any], Any] | None = None


_registry: dict[str, ApprovalAction] = {}


def register(action: ApprovalAction) -> ApprovalAction:
    if action.key in _registry and _registry[action.key] is not action:
        raise ValueError(f"approval action {action.key!r} is already registered")
    _registry[action.key] = action
    return action


def unregister(key: str) -> None:
    _registry.pop(key, None)


def get_action(key: str) -> ApprovalAction:
    try:
        return _registry[key]
    except KeyError:
        raise OpsError(errors.UNKNOWN_APPROVAL_ACTION.format(action=key)) from None


def registered_actions() -> list[ApprovalAction]:
    return sorted(_registry.values(), key=lambda a: a.key)
