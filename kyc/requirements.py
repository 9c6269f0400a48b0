"""Which documents each kind of client must provide (seed 003, step two)."""

from __future__ import annotations

from accounts.models import ClientKind
from kyc.models import DocumentKind

REQUIRED: dict[str, list[DocumentKind]] = {
    ClientKind.INDIVIDUAL: [DocumentKind.PROOF_OF_IDENTITY, DocumentKind.PROOF_OF_ADDRESS, DocumentKind.SUITABILITY],
    ClientKind.CORPORATE: [
        DocumentKind.INCORPORATION,
        DocumentKind.SHAREHOLDER_REGISTER,
        DocumentKind.DIRECTORS,
        DocumentKind.UBO_DECLARATION,
        DocumentKind.AUTHORISATION,
    ],
}
# Enhanced due diligence asks for these on top (issue: risk and EDD).
EDD_EXTRA = [DocumentKind.SOURCE_OF_FUNDS, DocumentKind.SOURCE_OF_WEALTH]


def allowed_kinds(client_kind: str) -> list[DocumentKind]:
    return [*REQUIRED[client_kind], *EDD_EXTRA]
