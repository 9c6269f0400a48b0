"""The KYC part of retention (accounts.services.retention): a pseudonymised client's identity
documents are deleted - the files, and their names and numbers in the rows and the history rows.
The rows stay (kind, dates, status, size, SHA-256) as the record that the checks were done."""

from __future__ import annotations

from accounts.models import Client
from audit.history import history_pseudonymise, register_pseudonymisable
from kyc.models import Document

REASON = "retention period over: document file deleted"
DOCUMENT_PERSONAL_FIELDS = ("file", "original_name", "number")
register_pseudonymisable(Document, DOCUMENT_PERSONAL_FIELDS)


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
    # Deleted last, inside the transaction: should the commit fail, the files are gone but the rows
    # still name them, the client is not marked, and the next run completes it (delete is a no-op then).
    deleted = 0
    for storage, name in files:
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
    return {"documents": len(documents), "document_files_deleted": deleted}
