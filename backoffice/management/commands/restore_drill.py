from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.backups import BackupError, restore_drill


class Command(BaseCommand):
    help = (
        "Restore a backup_database archive into a fresh database, run audit_verify and ledger_verify"
        " against it, check its audit chain head against the backup's manifest, time it, and drop it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="an archive written by backup_database")
        parser.add_argument("--keep", action="store_true", help="keep the restored database")
        parser.add_argument("--database", help="name of the database to restore into (default: <name>_drill_<time>)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = restore_drill(options["file"], keep=options["keep"], database=options["database"])
        except BackupError as exc:
            raise CommandError(f"restore drill FAILED: {exc}") from None
        self.stdout.write(report.audit_output)
        self.stdout.write(report.ledger_output)
        kept = f"; kept as {report.database}" if options["keep"] else ""
        self.stdout.write(
            f"restore drill OK: chain head #{report.chain_head.seq} matches the backup;"
            f" restored in {report.restore_seconds:.1f} s, verified in {report.verify_seconds:.1f} s,"
            f" {report.total_seconds:.1f} s in all{kept}"
        )
