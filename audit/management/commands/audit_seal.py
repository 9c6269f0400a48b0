from typing import Any

from django.core.management.base import BaseCommand

from audit.services import audit_seal


class Command(BaseCommand):
    help = "Seal committed audit events into the hash chain now (Celery beat does this every few seconds)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"sealed {audit_seal()} events")
