from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.selectors import audit_chain_verify
from audit.services import audit_seal


class Command(BaseCommand):
    help = "Recompute the audit hash chain; print how many events were verified or name the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seal-first", action="store_true", help="seal committed events before verifying")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seal_first"]:
            audit_seal()
        report = audit_chain_verify()
        if not report.ok:
            assert report.first_break is not None
            brk = report.first_break
            raise CommandError(
                f"audit chain broken at event id={brk.event_id} (chain position {brk.seq}): {brk.problem}"
                f"; {report.verified} events verified before it"
            )
        pending = f", {report.unsealed} committed events waiting to be sealed" if report.unsealed else ""
        self.stdout.write(f"audit chain OK: {report.verified} events verified{pending}")
