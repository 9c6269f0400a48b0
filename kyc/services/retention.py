"""The KYC part of retention (accounts.services.retention): a pseudonymised client's identity
documents are deleted - the files, and their names and numbers in the rows and the history rows -
and so is what the identity verification provider read off them (the fields, the differences from
the profile, its reasons, and the stored raw results). The rows stay (kind, dates, status, size,
SHA-256; the provider's result and score) as the record that the checks were done."""

from __future__ import annotations

from accounts.models import Client
from audit.history import history_pseudonymise, register_pseudonymisable
from kyc.models import Document, IdentityCheck, IdentityInboundResult

REASON = "retention period over: document file deleted"
DOCUMENT_PERSONAL_FIELDS = ("file", "original_name", "number")
register_pseudonymisable(Document, DOCUMENT_PERSONAL_FIELDS)
CHECK_PERSONAL_VALUES: dict[str, object] = {"extracted": {}, "mismatches": [], "reasons": []}
RESULT_PERSONAL_VALUES: dict[str, object] = {"body": "", "payload": {}, "signature": ""}
register_pseudonymisable(IdentityCheck, tuple(CHECK_PERSONAL_VALUES))
register_pseudonymisable(IdentityInboundResult, tuple(RESULT_PERSONAL_VALUES))


def documents_pseudonymise(client: Client) -> dict[str, int]:
    documents = list(Document.objects.filter(client=client).select_for_update(of=("self",)).order_by("pk"))
    files = [(d.file.storage, d.file.name) for d in documents if d.file]
    for document in documents:
        document.file.name = ""
        document.original_name = ""
        document.number = ""
        document._change_reason = REASON  # type: ignore[attr-defined]
        document.save(update_fields=list(DOCUMENT_PERSONAL_FIELDS))
    history_pseudonymise(Document, [d.pk for d in documents], dict.fromkeys(DOCUMENT_PERSONAL_FIELDS, ""))
    checks = list(IdentityCheck.objects.filter(client=client).select_for_update().order_by("pk"))
    for check in checks:
        for field, value in CHECK_PERSONAL_VALUES.items():
            setattr(check, field, value)
        check._change_reason = REASON  # type: ignore[attr-defined]
        check.save(update_fields=list(CHECK_PERSONAL_VALUES))
    history_pseudonymise(IdentityCheck, [c.pk for c in checks], CHECK_PERSONAL_VALUES)
    provider_ids = [(c.provider, c.provider_check_id) for c in checks if c.provider_check_id]
    results = [
        r
        for r in IdentityInboundResult.objects.filter(
            provider_check_id__in=[i for _, i in provider_ids]
        ).select_for_update()
        if (r.provider, r.provider_check_id) in provider_ids
    ]
    for result in results:
        for field, value in RESULT_PERSONAL_VALUES.items():
            setattr(result, field, value)
        result._change_reason = REASON  # type: ignore[attr-defined]
        result.save(update_fields=list(RESULT_PERSONAL_VALUES))
    history_pseudonymise(IdentityInboundResult, [r.pk for r in results], RESULT_PERSONAL_VALUES)
    # Deleted last, inside the transaction: should the commit fail, the files are gone but the rows
    # still name them, the client is not marked, and the next run completes it (delete is a no-op then).
    deleted = 0
    for storage, name in files:
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
    return {"documents": len(documents), "document_files_deleted": deleted, "identity_checks": len(checks)}
