"""Every status x capability, against a table written out here (seed 003), not derived from the code."""

from __future__ import annotations

import pytest

from accounts.capabilities import Capability, CapabilityDenied, client_can, client_require
from accounts.models import Client, ClientStatus

Y, N = True, False
#                       browse upload deposit open  close withdraw transfer
EXPECTED = {
    "registered":        (Y,    Y,     N,      N,    N,    N,       N),
    "pending_review":    (Y,    Y,     N,      N,    N,    N,       N),
    "pending_documents": (Y,    Y,     N,      N,    N,    N,       N),
    "approved":          (Y,    Y,     Y,      Y,    Y,    Y,       Y),
    "restricted":        (Y,    Y,     N,      N,    Y,    N,       N),
    "closed":            (N,    N,     N,      N,    N,    N,       N),
}  # fmt: skip
ORDER = [
    Capability.BROWSE, Capability.UPLOAD_DOCUMENTS, Capability.DEPOSIT, Capability.OPEN_POSITIONS,
    Capability.CLOSE_POSITIONS, Capability.WITHDRAW, Capability.TRANSFER,
]  # fmt: skip
CASES = [(status, cap, allowed) for status, row in EXPECTED.items() for cap, allowed in zip(ORDER, row, strict=True)]


def test_the_table_covers_every_status_and_capability() -> None:
    assert set(EXPECTED) == set(ClientStatus.values) and set(ORDER) == set(Capability)


@pytest.mark.parametrize(("status", "capability", "allowed"), CASES)
def test_status_capability(status: str, capability: Capability, allowed: bool) -> None:
    assert client_can(status, capability) is allowed
    client = Client(status=status)
    if allowed:
        client_require(client, capability)
    else:
        with pytest.raises(CapabilityDenied, match=f"may not {capability.value.replace('_', ' ')}"):
            client_require(client, capability)
