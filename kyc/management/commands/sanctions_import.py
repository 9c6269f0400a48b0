from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.errors import KycError
from kyc.services.screening import import_file


class Command(BaseCommand):
    help = (
        "Import a sanctions/PEP list (OpenSanctions targets.simple CSV) as a new version; every client is re-screened."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", default="opensanctions", help="the list's name (default: opensanctions)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            for progress in import_file(path, options["name"]):
                self.stdout.write(f"\rimported {progress.rows} rows", ending="")
                self.stdout.flush()
        except (KycError, UnicodeDecodeError) as exc:
            raise CommandError(f"import failed: {exc}") from None
        self.stdout.write(f"\nlist version {progress.version_id} complete; re-screening of all clients queued")
