"""The identity verification gateway: the back office talks to an identity verification provider
only through this, to the adapter the ``IDENTITY_VERIFIER`` setting names (in the demo and the
tests, the simulated provider of the sim app). Empty: no provider, documents are reviewed by people
alone."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from kyc.identity.base import (
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
    IdentityVerifier,
)

__all__ = [
    "RESULTS",
    "RESULT_CLEAR",
    "RESULT_FAILED",
    "RESULT_MISMATCH",
    "IdentityApplicant",
    "IdentityCheckOutcome",
    "IdentityDocumentSubmission",
    "IdentityProviderError",
    "IdentityProviderTimeout",
    "IdentitySignatureError",
    "IdentityVerifier",
    "get_identity_verifier",
    "identity_verifier_configured",
]


def identity_verifier_configured() -> bool:
    return bool(settings.IDENTITY_VERIFIER)


def get_identity_verifier() -> IdentityVerifier:
    if not settings.IDENTITY_VERIFIER:
        raise LookupError("IDENTITY_VERIFIER: no identity verification adapter is configured")
    verifier: IdentityVerifier = import_string(settings.IDENTITY_VERIFIER)()
    return verifier
