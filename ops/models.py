from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from audit.history import AuditedHistoricalRecords
from ops.roles import PERMISSIONS, Role


class User(AbstractUser):
    """A staff member (partners get their own model with the partner API)."""

    history = AuditedHistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]

    @property
    def roles(self) -> list[Role]:
        names = {g.name for g in self.groups.all()}
        return [r for r in Role if r.value in names]


class Capability(models.Model):
    """Holds the role permissions declared in :mod:`ops.roles` (no table)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(PERMISSIONS.items())

    def __str__(self) -> str:
        return "capability"
