from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class CrmError(Exception):
    """The CRM refused or failed the call (safe to retry: every write carries an idempotency key)."""


class CrmSignatureError(CrmError):
    """An inbound notification without a valid signature (or with a stale timestamp)."""


@dataclass(frozen=True)
class CrmCommunication:
    """A communication record the CRM owns (a call, an e-mail, a meeting, a note), by its id."""

    external_id: str
    kind: str
    subject: str
    body: str
    occurred_at: datetime
    updated_at: datetime
    author: str = ""


@dataclass(frozen=True)
class CrmContact:
    """A contact as the CRM holds it: what the back office pushed (``fields``), and what the CRM
    owns (sales stage, tags, communication records). ``updated_at`` is the CRM's own update time of
    the contact (out-of-order deliveries: the newer one wins)."""

    crm_id: str
    external_id: str  # the back office's client reference
    fields: dict[str, Any]
    sales_stage: str
    tags: list[str]
    updated_at: datetime
    communications: list[CrmCommunication] = field(default_factory=list)


@dataclass(frozen=True)
class CrmNotification:
    """A verified inbound notification: its id (deduplication), type, time, and the contact as it
    was when the CRM sent it."""

    event_id: str
    event_type: str
    created: datetime | None
    contact: CrmContact
    payload: dict[str, Any]


class CRM(Protocol):
    """What the back office needs from a CRM (Salesforce, HubSpot, a broker CRM...)."""

    signature_header: str

    def upsert_contact(self, *, external_id: str, fields: dict[str, Any], idempotency_key: str) -> str:
        """Create or update the contact of this client (found by ``external_id``) with exactly
        ``fields``; returns the CRM's id. A key seen before applies nothing again."""
        ...

    def get_contact(self, crm_id: str) -> CrmContact: ...

    def list_changes(self, *, since: datetime | None, limit: int = 200) -> list[CrmContact]:
        """Contacts the CRM changed after ``since`` (oldest first): the poll behind the webhook."""
        ...

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        """Raise CrmSignatureError unless the body carries the CRM's valid, fresh signature."""
        ...

    def webhook_parse(self, body: bytes) -> CrmNotification:
        """The notification in the back office's terms; ValueError/KeyError/TypeError when malformed."""
        ...
