"""What the back office needs from an identity verification service (Onfido, Sumsub, Veriff-style):
it sends the document and the applicant's profile, the provider checks the document and answers
later with a signed result - the document result, a risk score, its review status and the fields
it read off the document (seed 003's "document result, risk score, review status")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


class IdentityProviderError(Exception):
    """The provider refused or failed the call (5xx, refused connection). Safe to retry: a check is
    requested with our reference as its idempotency key."""


class IdentityProviderTimeout(IdentityProviderError):
    """No answer in time: the check may or may not have been created (the retry finds it)."""


class IdentitySignatureError(Exception):
    """An inbound result without a valid signature (or with a stale timestamp)."""


@dataclass(frozen=True)
class IdentityApplicant:
    """The profile the document is checked against (what the back office holds)."""

    reference: str  # the client's reference
    first_name: str
    last_name: str
    date_of_birth: date | None
    nationality: str = ""


@dataclass(frozen=True)
class IdentityDocumentSubmission:
    kind: str  # a kyc.DocumentKind value
    filename: str
    content_type: str
    content: bytes
    sha256: str
    number: str = ""
    expiry_date: date | None = None


# The provider's document result, in the back office's terms.
RESULT_CLEAR = "clear"  # authentic, and what it reads matches the applicant
RESULT_MISMATCH = "mismatch"  # authentic, but the name or date of birth differs from the applicant's
RESULT_FAILED = "failed"  # not authentic, unreadable, or not an identity document
RESULTS = (RESULT_CLEAR, RESULT_MISMATCH, RESULT_FAILED)


@dataclass(frozen=True)
class IdentityCheckOutcome:
    """A verified result as the provider reported it (``identity_result_process`` maps it)."""

    event_id: str
    check_id: str  # the provider's id of the check: results are idempotent by it
    reference: str  # our reference, sent with the request
    result: str  # one of RESULTS
    risk_score: int  # 0 (no risk) to 100
    review_status: str  # the provider's own status of its review (e.g. "complete")
    extracted: dict[str, str]  # what it read: first_name, last_name, date_of_birth, document_number, expiry_date
    reasons: list[str]  # why, in the provider's words
    created: datetime | None
    payload: dict[str, Any] = field(default_factory=dict)


class IdentityVerifier(Protocol):
    """An identity verification provider: a check is requested, its result comes back later by a
    signed webhook to ``/webhooks/identity/``."""

    name: str
    signature_header: str

    def request_check(
        self, *, reference: str, applicant: IdentityApplicant, document: IdentityDocumentSubmission
    ) -> str:
        """Start a check (or, for a ``reference`` seen before, find it); returns the provider's
        check id. Raises IdentityProviderError (or IdentityProviderTimeout) on failure."""
        ...

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        """Raise IdentitySignatureError unless the body carries the provider's valid, fresh signature."""
        ...

    def webhook_parse(self, body: bytes) -> IdentityCheckOutcome:
        """The result in the back office's terms; ValueError/KeyError/TypeError when malformed."""
        ...
