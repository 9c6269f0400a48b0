"""A simulated identity verification provider for the demo and the tests (``IDENTITY_VERIFIER``), a
``kyc.identity.IdentityVerifier``: the adapter the back office calls (``SimulatedIdentityVerifier``)
and the provider's own side - the checks it ran (``SimIdvCheck``), and the signed results it sends
to the back office by HTTP after commit (``SimIdvNotification``). Faults (``SimIdvFault``) make it
answer with an error or not in time, so failures are real.

It decides deterministically from what it is sent (``assess``): the name and date of birth "on the
document" are the applicant's, unless the file's name says otherwise - ``name-Jane_Roe`` and
``dob-1990-01-31`` put another name or date of birth on it; ``forged`` makes the document fail
its authenticity checks and ``unreadable`` makes it unreadable. Results are signed like SimPay's
callbacks: header ``SimIDV-Signature: t=<unix>,v1=<hex>``, v1 = HMAC-SHA256(secret, "<t>.<raw body>").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import unicodedata
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kyc.identity import (
    RESULT_CLEAR,
    RESULT_FAILED,
    RESULT_MISMATCH,
    RESULTS,
    IdentityApplicant,
    IdentityCheckOutcome,
    IdentityDocumentSubmission,
    IdentityProviderError,
    IdentityProviderTimeout,
    IdentitySignatureError,
)
from sim.models import SimIdvCheck, SimIdvFault, SimIdvNotification

NAME = "simidv"
SIGNATURE_HEADER = "SimIDV-Signature"
NAME_MARK = re.compile(r"name-([A-Za-z'-]+)_([A-Za-z'-]+)")
DOB_MARK = re.compile(r"dob-(\d{4}-\d{2}-\d{2})")


def sign(payload: bytes, *, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(payload: bytes, header: str | None, *, secret: str, tolerance: int, now: float | None = None) -> int:
    if not header:
        raise IdentitySignatureError("The SimIDV-Signature header is missing.")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not mac:
        raise IdentitySignatureError("The SimIDV-Signature header is malformed.")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise IdentitySignatureError("The signature's timestamp is outside the tolerance window (a replay?).")
    expected = sign(payload, secret=secret, timestamp=int(timestamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, mac):
        raise IdentitySignatureError("The signature does not match the payload.")
    return int(timestamp)


def _same(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
        return " ".join(plain.casefold().split())

    return norm(a) == norm(b)


def assess(applicant: IdentityApplicant, document: IdentityDocumentSubmission) -> dict[str, Any]:
    """The provider's result for this document and applicant (the same inputs, the same result)."""
    marks = document.filename.lower()
    first, last = applicant.first_name, applicant.last_name
    named = NAME_MARK.search(document.filename)
    if named:
        first, last = named.group(1), named.group(2)
    dob_mark = DOB_MARK.search(marks)
    dob = dob_mark.group(1) if dob_mark else (applicant.date_of_birth.isoformat() if applicant.date_of_birth else "")
    extracted = {
        "first_name": first,
        "last_name": last,
        "date_of_birth": dob,
        "document_number": document.number,
        "expiry_date": document.expiry_date.isoformat() if document.expiry_date else "",
        "nationality": applicant.nationality,
    }
    reasons: list[str] = []
    if "forged" in marks:
        result, score = RESULT_FAILED, 95
        reasons.append("The document's security features do not verify: possible tampering.")
    elif "unreadable" in marks:
        result, score = RESULT_FAILED, 70
        reasons.append("The document cannot be read: blurred, cropped or glared.")
        extracted = {key: "" for key in extracted}
    else:
        if not (_same(first, applicant.first_name) and _same(last, applicant.last_name)):
            reasons.append("The name on the document differs from the applicant's.")
        if applicant.date_of_birth and dob != applicant.date_of_birth.isoformat():
            reasons.append("The date of birth on the document differs from the applicant's.")
        if reasons:
            result, score = RESULT_MISMATCH, 65
        else:  # authentic and matching: a low score that depends on the file only
            result, score = RESULT_CLEAR, 5 + int(document.sha256[:2] or "0", 16) % 20
            reasons.append("Authentic document; the data matches the applicant.")
    assert result in RESULTS
    return {"status": "complete", "result": result, "risk_score": score, "extracted": extracted, "reasons": reasons}


def _fault() -> None:
    """Fail the call when a fault is armed (used up in its own transaction)."""
    with transaction.atomic():
        fault = SimIdvFault.objects.select_for_update().filter(remaining__gt=0).order_by("id").first()
        if fault is None:
            return
        SimIdvFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
    if fault.mode == "timeout":
        raise IdentityProviderTimeout("simulated identity provider: no answer in time (injected fault)")
    raise IdentityProviderError("simulated identity provider: 503 Service Unavailable (injected fault)")


class SimulatedIdentityVerifier:
    """The back office's identity verification provider in the demo and the tests."""

    name = NAME
    signature_header = SIGNATURE_HEADER

    def request_check(
        self, *, reference: str, applicant: IdentityApplicant, document: IdentityDocumentSubmission
    ) -> str:
        _fault()
        with transaction.atomic():
            seen = SimIdvCheck.objects.filter(reference=reference).first()
            if seen is not None:  # the same request again (a retry after a timeout): the same check
                return seen.check_id
            check = SimIdvCheck.objects.create(
                check_id=f"pending-{secrets.token_hex(6)}",
                reference=reference,
                applicant={**asdict(applicant), "date_of_birth": str(applicant.date_of_birth or "")},
                document={
                    "kind": document.kind, "filename": document.filename, "content_type": document.content_type,
                    "size": len(document.content), "sha256": document.sha256,
                },
                result=assess(applicant, document),
            )  # fmt: skip
            check.check_id = f"IDV-{100000 + check.pk}"
            check.save(update_fields=["check_id"])
            notification_queue(check)
            return check.check_id

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        verify(body, signature, secret=settings.IDENTITY_WEBHOOK_SECRET, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)

    def webhook_parse(self, body: bytes) -> IdentityCheckOutcome:
        evt = json.loads(body)
        if not isinstance(evt, dict) or not isinstance(evt.get("data"), dict):
            raise TypeError("the result is not an object with data")
        check = evt["data"]["check"]
        if not isinstance(check, dict) or not isinstance(check.get("extracted"), dict):
            raise TypeError("data.check must be an object with extracted fields")
        if check["result"] not in RESULTS:
            raise ValueError(f"result {check['result']!r} is not one of {', '.join(RESULTS)}")
        score = check["risk_score"]
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
            raise ValueError("risk_score must be a whole number from 0 to 100")
        reasons = check.get("reasons", [])
        if not isinstance(reasons, list):
            raise TypeError("reasons must be a list")
        created = evt.get("created")
        if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
            raise TypeError("created is not a whole number of Unix seconds")
        return IdentityCheckOutcome(
            event_id=str(evt["id"])[:120],
            check_id=str(check["id"])[:120],
            reference=str(check["reference"])[:40],
            result=str(check["result"]),
            risk_score=score,
            review_status=str(check.get("status", ""))[:40],
            extracted={str(k)[:40]: str(v)[:200] for k, v in check["extracted"].items()},
            reasons=[str(r)[:300] for r in reasons][:10],
            created=datetime.fromtimestamp(created, tz=UTC) if created is not None else None,
            payload=evt,
        )

    # --- test and demo controls ---------------------------------------------------------------

    @staticmethod
    def inject_fault(mode: str = "error", *, times: int = 1) -> None:
        SimIdvFault.objects.create(mode=mode, remaining=times)


def result_payload(check: SimIdvCheck, *, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "check.completed",
        "created": int(time.time()),
        "data": {"check": {"id": check.check_id, "reference": check.reference, **check.result}},
    }


def notification_queue(check: SimIdvCheck) -> SimIdvNotification:
    """Write the check's result notification and send it once the check commits."""
    event_id = f"evt_{secrets.token_hex(10)}"
    notification = SimIdvNotification.objects.create(
        event_id=event_id, idv_check=check, payload=result_payload(check, event_id=event_id)
    )
    from sim.tasks import simidv_deliver_task

    pk = notification.pk
    transaction.on_commit(lambda: simidv_deliver_task.delay(notification_id=pk))
    return notification


def signed(payload: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, sign(body, secret=secret or settings.IDENTITY_WEBHOOK_SECRET, timestamp=timestamp or int(time.time()))


def post(body: bytes, signature: str, *, url: str | None = None) -> int:
    request = urllib.request.Request(  # noqa: S310 - the configured endpoint (http on loopback in the demo)
        url or settings.SIMIDV_WEBHOOK_URL,
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def notification_deliver(*, notification_id: int, url: str | None = None) -> int:
    """POST the signed result to the back office, as the provider would; returns the HTTP status
    (urllib.error.URLError when nobody answers)."""
    notification = SimIdvNotification.objects.get(pk=notification_id)
    body, signature = signed(notification.payload)
    status = post(body, signature, url=url)
    SimIdvNotification.objects.filter(pk=notification_id).update(
        attempts=F("attempts") + 1, last_status=status, delivered_at=timezone.now() if status < 300 else None
    )
    return status
