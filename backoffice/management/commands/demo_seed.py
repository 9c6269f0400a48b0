"""Load the demo data, idempotently, and print one login per role. Demo mode only."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record, audit_seal
from ops.models import User
from ops.roles import Role
from ops.services.staff import staff_create

DEMO_STAFF: list[tuple[str, Role]] = [
    ("support", Role.SUPPORT),
    ("compliance", Role.COMPLIANCE),
    ("compliance2", Role.COMPLIANCE),
    ("finance", Role.FINANCE),
    ("risk", Role.RISK),
    ("admin", Role.ADMIN),
    ("admin2", Role.ADMIN),
    ("auditor", Role.AUDITOR),
]


class Command(BaseCommand):
    help = "Load demo data (demo mode only) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_seed runs only in demo mode (BACKOFFICE_DEMO=1, set by `make demo`)")
        logins_file = Path(settings.VAR_DIR) / "demo-logins.json"
        logins: dict[str, str] = json.loads(logins_file.read_text()) if logins_file.exists() else {}
        created = 0
        with acting_as(Actor.system("demo_seed")):
            for username, role in DEMO_STAFF:
                user = User.objects.filter(username=username).first()
                if user is None:
                    password = secrets.token_urlsafe(12)
                    staff_create(
                        username=username,
                        email=f"{username}@demo.invalid",
                        password=password,
                        roles=[role],
                        reason="demo data",
                    )
                    logins[username] = password
                    created += 1
                elif username not in logins:  # logins file lost: issue a new password
                    logins[username] = secrets.token_urlsafe(12)
                    user.set_password(logins[username])
                    user._change_reason = "demo data: new demo password"  # type: ignore[attr-defined]
                    user.save()
            if created:
                with transaction.atomic():
                    audit_record(
                        action=AuditAction.DEMO_DATA_LOADED,
                        subject=("backoffice.demo", "staff"),
                        after={"staff_created": created},
                    )
            audit_seal()
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        logins_file.write_text(json.dumps(logins, indent=2))
        logins_file.chmod(0o600)
        self.stdout.write("Demo logins (demo mode only; stored in var/demo-logins.json):")
        for username, role in DEMO_STAFF:
            self.stdout.write(f"  {role.label:<18} {username:<12} {logins[username]}")
