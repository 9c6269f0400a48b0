"""Who is acting right now.

Every audit event and every history row names an actor. The actor is set once at the edge — the
request middleware for staff, the Celery task base for system jobs, the API authentication for
partners — and read wherever a change is recorded. Context variables keep it per request and per
task, thread- and async-safe.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class ActorKind(enum.StrEnum):
    STAFF = "staff"
    PARTNER = "partner"
    SYSTEM = "system"
    AUTOMATION = "automation"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ident: str  # user pk, partner id, or job name
    label: str  # what a person reading the trail sees

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls(ActorKind.STAFF, str(user.pk), user.get_username())

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, job, f"system:{job}")

    @classmethod
    def automation(cls, rule: str) -> Actor:
        return cls(ActorKind.AUTOMATION, rule, f"automation:{rule}")


@dataclass(frozen=True)
class RequestInfo:
    request_id: str = ""
    ip: str | None = None


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)
_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("audit_request", default=None)
_NO_REQUEST = RequestInfo()


def current_actor() -> Actor | None:
    return _actor.get()


def current_request_info() -> RequestInfo:
    return _request.get() or _NO_REQUEST


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def actor_scope() -> Iterator[None]:
    """A request's own actor slot: whatever :func:`actor_set` puts in it ends with the request
    (the request middleware opens one for every request nobody is signed in to by session)."""
    token = _actor.set(_actor.get())  # the same actor (if any) in a slot of its own
    try:
        yield
    finally:
        _actor.reset(token)


def actor_set(actor: Actor) -> None:
    """Name the actor for the rest of the current scope, when the edge learns it only after the
    middleware ran (the API key authentication). Only inside an :func:`actor_scope` or
    :func:`acting_as`, whose end puts the previous actor back."""
    _actor.set(actor)


@contextlib.contextmanager
def request_scope(info: RequestInfo) -> Iterator[RequestInfo]:
    token = _request.set(info)
    try:
        yield info
    finally:
        _request.reset(token)


@dataclass
class SecurityNote:
    """A refused or suspicious thing seen while handling a request (a failed sign-in, a forged
    webhook), written to the security log when the request ends (``audit.services``)."""

    kind: str
    reason: str = ""
    username: str = ""
    actor: Any = None  # a staff user, when the note names one (e.g. a failed second factor)
    status: int | None = None
    ip: str | None = None  # an alert names its caller's address; otherwise the request's


@dataclass
class RequestSecurity:
    """What the security log middleware gathers during one request: notes, and the reason of the
    last permission refusal (``ops.permissions.Decision.require``)."""

    notes: list[SecurityNote] = field(default_factory=list)
    refusal: str = ""


_security: contextvars.ContextVar[RequestSecurity | None] = contextvars.ContextVar("security_notes", default=None)


def current_request_security() -> RequestSecurity | None:
    return _security.get()


@contextlib.contextmanager
def request_security_scope() -> Iterator[RequestSecurity]:
    token = _security.set(RequestSecurity())
    try:
        yield _security.get()  # type: ignore[misc]
    finally:
        _security.reset(token)


def refusal_noted(reason: str) -> None:
    """Remember why the current request is being refused (read by the security log)."""
    gathered = _security.get()
    if gathered is not None:
        gathered.refusal = reason
