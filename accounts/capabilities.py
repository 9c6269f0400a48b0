"""What each client status allows — the one matrix, used everywhere (seed 003, step one)."""

from __future__ import annotations

from enum import StrEnum

from accounts.models import Client, ClientStatus


class Capability(StrEnum):
    BROWSE = "browse"  # use the client area
    UPLOAD_DOCUMENTS = "upload_documents"
    DEPOSIT = "deposit"
    OPEN_POSITIONS = "open_positions"
    CLOSE_POSITIONS = "close_positions"
    WITHDRAW = "withdraw"
    TRANSFER = "transfer"  # between own wallets and trading accounts


C = Capability
MATRIX: dict[ClientStatus, frozenset[Capability]] = {
    # registered may browse but not withdraw
    ClientStatus.REGISTERED: frozenset({C.BROWSE, C.UPLOAD_DOCUMENTS}),
    # pending review may upload documents but not trade (no trading account yet)
    ClientStatus.PENDING_REVIEW: frozenset({C.BROWSE, C.UPLOAD_DOCUMENTS}),
    ClientStatus.PENDING_DOCUMENTS: frozenset({C.BROWSE, C.UPLOAD_DOCUMENTS}),
    ClientStatus.APPROVED: frozenset(Capability),
    # restricted may only close positions: no new positions, no withdrawals
    ClientStatus.RESTRICTED: frozenset({C.BROWSE, C.UPLOAD_DOCUMENTS, C.CLOSE_POSITIONS}),
    # closed allows nothing
    ClientStatus.CLOSED: frozenset(),
}

NOT_ALLOWED = "A client who is {status} may not {capability}."


class CapabilityDenied(Exception):
    pass


def client_can(client: Client | str, capability: Capability) -> bool:
    status = str(client.status) if isinstance(client, Client) else str(client)
    return capability in MATRIX[ClientStatus(status)]


def client_require(client: Client, capability: Capability) -> None:
    if not client_can(client, capability):
        raise CapabilityDenied(
            NOT_ALLOWED.format(
                status=ClientStatus(client.status).label.lower(), capability=capability.value.replace("_", " ")
            )
        )
