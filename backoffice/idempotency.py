"""The staff API's one idempotency mechanism: every POST, PUT, PATCH and DELETE honours an
``Idempotency-Key`` header (the IETF httpapi idempotency-key draft, Stripe's semantics).

- A key belongs to its caller (the signed-in user, or the credential the request authenticated
  with): the same key sent by someone else is another key.
- Before the write runs, a ``backoffice.IdempotencyKey`` row (caller, key) is inserted and
  committed in its own transaction. Its unique constraint decides a race in Postgres: exactly one
  request wins and runs; the others find the row.
- While the winner runs, the same key again is a 409 problem ("in progress") with Retry-After.
- Once it has answered, the same key again gets that answer replayed: the same status and body,
  with ``Idempotent-Replayed: true``. A 5xx or an unhandled error releases the key (deletes the
  row), so the caller may retry.
- The same key with another method, path or body is a 422 problem naming what differs.

Applied by :class:`IdempotentWritesMixin`, which every API view inherits (a test walks the URL
conf), and documented on every write operation of the OpenAPI schema by :class:`AutoSchema`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request

from backoffice import errors
from backoffice.models import IdempotencyKey

HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
# The headers of the first answer that a replay repeats (besides its content type).
REPLAYED_HEADERS = ("Location",)


class IdempotencyInProgress(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_progress"

    def __init__(self, key: str) -> None:
        super().__init__(errors.IDEMPOTENCY_IN_PROGRESS.format(key=key))
        self.wait = settings.IDEMPOTENCY_RETRY_AFTER_SECONDS  # DRF's handler sends it as Retry-After


class IdempotencyMismatch(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"

    def __init__(self, key: str, differs: list[str]) -> None:
        super().__init__(errors.IDEMPOTENCY_MISMATCH.format(key=key, differs=", ".join(differs)))
        self.problem_members = {"errors": {HEADER: [str(self.detail)]}, "mismatch": differs}


class _Replay(Exception):
    def __init__(self, row: IdempotencyKey) -> None:
        self.row = row


def caller_of(request: Request) -> str:
    """Whose key it is: the credential the request authenticated with if it carries one (an API
    key), else the user."""
    credential = getattr(request, "auth", None)
    if credential is not None and getattr(credential, "pk", None) is not None:
        return f"credential:{type(credential).__name__.lower()}:{credential.pk}"
    return f"user:{request.user.pk}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _body_of(request: Request) -> Any:
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict (form or multipart body)
        return {k: v for k, v in data.lists()}
    return data


def _field_name(name: object) -> str:
    """A body field's name as stored and shown: printable text kept, anything else (a NUL byte, a
    lone surrogate, which Postgres' jsonb refuses) written as its escape."""
    text = str(name)
    return text if text.isprintable() and text.isascii() else text.encode("unicode_escape").decode("ascii")


def fingerprint(request: Request) -> tuple[str, dict[str, str]]:
    body = _body_of(request)
    whole = _sha256(_canonical({"method": request.method, "path": request.path, "body": body}))
    fields = {_field_name(k): _sha256(_canonical(v)) for k, v in body.items()} if isinstance(body, dict) else {}
    return whole, fields


def _differences(row: IdempotencyKey, method: str, path: str, fields: dict[str, str]) -> list[str]:
    if (row.method, row.path) != (method, path):
        return [f"the endpoint (first {row.method} {row.path})"]
    names = sorted(k for k in set(row.field_hashes) | set(fields) if row.field_hashes.get(k) != fields.get(k))
    return names or ["the body"]


def _valid_key(raw: str) -> str:
    if not raw or len(raw) > MAX_KEY_LENGTH or not all(32 < ord(ch) < 127 for ch in raw):
        raise ValidationError({HEADER: [errors.IDEMPOTENCY_BAD_KEY.format(maximum=MAX_KEY_LENGTH)]})
    return raw


def idempotency_claim(
    *, caller: str, key: str, method: str, path: str, request_hash: str, fields: dict[str, str]
) -> IdempotencyKey:
    """Claim ``key`` for ``caller``: the row, inserted and committed before the write runs. Raises
    ``_Replay`` (answered before), ``IdempotencyInProgress`` or ``IdempotencyMismatch``."""
    for _ in range(3):  # a released or expired row may vanish between our insert and our read
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    caller=caller, key=key, method=method, path=path, request_hash=request_hash,
                    field_hashes=fields, created_at=now, locked_at=now,
                )  # fmt: skip
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(caller=caller, key=key).first()
        if row is None:
            continue
        if row.created_at < now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS):
            IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()  # expired: a new key
            continue
        if row.request_hash != request_hash:
            raise IdempotencyMismatch(key, _differences(row, method, path, fields))
        if row.completed_at is not None:
            raise _Replay(row)
        stale = now - timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_SECONDS)
        if row.locked_at < stale:
            # The first request died without answering or releasing: the retry takes it over
            # (compare-and-set, so one retry does).
            taken = IdempotencyKey.objects.filter(pk=row.pk, completed_at=None, locked_at=row.locked_at).update(
                locked_at=now
            )
            if taken:
                row.locked_at = now
                return row
        raise IdempotencyInProgress(key)
    raise IdempotencyInProgress(key)


def idempotency_complete(*, row: IdempotencyKey, response: HttpResponseBase) -> None:
    """Record the answer the write gave, to replay it; a 5xx releases the key instead."""
    if response.status_code >= 500:
        idempotency_release(row=row)
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    content = getattr(response, "content", b"")
    IdempotencyKey.objects.filter(pk=row.pk).update(
        completed_at=timezone.now(),
        response_status=response.status_code,
        response_content_type=response.get("Content-Type", ""),
        response_headers={h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)},
        response_body=content.decode("utf-8", "replace"),
    )


def idempotency_release(*, row: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=row.pk, completed_at=None).delete()


def idempotency_keys_purge(*, now: Any = None, limit: int = 10_000) -> int:
    """Forget keys older than ``IDEMPOTENCY_KEY_TTL_HOURS`` (beat, hourly), in bounded batches."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    ids = list(IdempotencyKey.objects.filter(created_at__lt=cutoff).order_by("pk").values_list("pk", flat=True)[:limit])
    deleted, _ = IdempotencyKey.objects.filter(pk__in=ids, created_at__lt=cutoff).delete()
    return deleted


def _replayed(row: IdempotencyKey) -> HttpResponse:
    assert row.response_status is not None
    response = HttpResponse(row.response_body, status=row.response_status, content_type=row.response_content_type)
    for name, value in row.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotentWritesMixin:
    """For every API view: writes honour the ``Idempotency-Key`` header (see the module). The key
    is claimed after authentication and permission checks, so a refused caller claims nothing."""

    _idempotency_row: IdempotencyKey | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency_row = None
        raw = request.headers.get(HEADER)
        if request.method not in WRITE_METHODS or raw is None:
            return
        if not request.user.is_authenticated:  # no caller to scope the key to (no API write is anonymous)
            return
        key = _valid_key(raw)
        request_hash, fields = fingerprint(request)
        self._idempotency_row = idempotency_claim(
            caller=caller_of(request), key=key, method=request.method, path=request.path,
            request_hash=request_hash, fields=fields,
        )  # fmt: skip

    def handle_exception(self, exc: Exception) -> Any:  # a DRF Response, or the replayed HttpResponse
        if isinstance(exc, _Replay):
            return _replayed(exc.row)
        try:
            return super().handle_exception(exc)  # type: ignore[misc]
        except BaseException:
            if self._idempotency_row is not None:  # an unhandled error (a 500): the caller may retry
                idempotency_release(row=self._idempotency_row)
                self._idempotency_row = None
            raise

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self._idempotency_row is not None:
            idempotency_complete(row=self._idempotency_row, response=response)
            self._idempotency_row = None
        return response


class AutoSchema(SpectacularAutoSchema):
    """The OpenAPI schema: every write of an idempotent view names the ``Idempotency-Key`` header,
    and every operation the API key scope it needs (``x-required-scope``, ``ops.api.requires_scope``)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        from ops.api import scopes_of

        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            scope = scopes_of(self.view, self.method)
            operation["x-required-scope"] = scope
            if scope == "*":
                note = "Any active API key."
            elif scope:
                note = f"API keys need the scope `{scope}`."
            else:
                note = "Not open to API keys (staff session only)."
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
        return operation

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method in WRITE_METHODS and isinstance(self.view, IdempotentWritesMixin):
            parameters.append(
                OpenApiParameter(
                    HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Any string of up to 255 printable characters, unique per request you mean once. "
                        "The same key from the same caller again replays the first answer "
                        "(Idempotent-Replayed: true); while the first is still running it is a 409 with "
                        "Retry-After; with another body it is a 422 naming what differs. Keys are per "
                        "caller and kept for IDEMPOTENCY_KEY_TTL_HOURS."
                    ),
                )
            )
        return parameters
