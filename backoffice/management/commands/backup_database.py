from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.backups import BackupError, backup_take, manifest_path


class Command(BaseCommand):
    help = (
        "Back up the database to FILE: pg_dump, custom format, in one snapshot, as the owner role;"
        " FILE.json records the audit chain head in that snapshot and the archive's SHA-256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the archive to write (e.g. var/backups/backoffice.dump)")

    def handle(self, *args: Any, **options: Any) -> None:
        archive: Path = options["file"]
        try:
            manifest = backup_take(archive)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        head = manifest["chain_head"]
        self.stdout.write(
            f"backup written: {archive} ({manifest['bytes']} bytes in {manifest['seconds']} s),"
            f" audit chain head #{head['seq']} {head['hash'][:16]}; manifest {manifest_path(archive)}"
        )
