"""The CRM gateway: the back office talks to the CRM only through this, to the adapter the
``CRM_BACKEND`` setting names (in the demo and the tests, the simulated CRM of the sim app).
Empty: there is no CRM, and nothing is synchronised."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.crm.base import CRM, CrmCommunication, CrmContact, CrmError, CrmNotification, CrmSignatureError

__all__ = [
    "CRM",
    "CrmCommunication",
    "CrmContact",
    "CrmError",
    "CrmNotification",
    "CrmSignatureError",
    "crm_configured",
    "get_crm",
]


def crm_configured() -> bool:
    return bool(settings.CRM_BACKEND)


def get_crm() -> CRM:
    if not settings.CRM_BACKEND:
        raise LookupError("CRM_BACKEND: no CRM adapter is configured")
    crm: CRM = import_string(settings.CRM_BACKEND)()
    return crm
