from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.context import Actor, acting_as, current_actor
from ib import errors
from ib.errors import DealFeedError
from ib.models import FeedSource
from ib.services.feed import deal_batch_process, deal_batch_receive


class Command(BaseCommand):
    help = (
        "Import a deal report file (CSV: deal_id,login,symbol,side,lots,open_time,close_time,spread,commission,"
        "swap,profit,currency) into the trade feed: stored as a batch, then processed. Refused rows are listed "
        "and put in the trade feed exception queue; an unreadable file exits non-zero and stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        size = path.stat().st_size
        if size > settings.DEAL_IMPORT_MAX_UPLOAD_BYTES:
            raise CommandError(errors.FEED_TOO_LARGE.format(size=size, limit=settings.DEAL_IMPORT_MAX_UPLOAD_BYTES))
        with acting_as(current_actor() or Actor.system("import_deals")):
            try:
                batch = deal_batch_receive(
                    source=FeedSource.CSV, raw=path.read_bytes(), filename=path.name, received_by="import_deals"
                )
            except DealFeedError as exc:
                raise CommandError(f"{path.name}: {exc.message}") from None
            batch = deal_batch_process(batch_id=batch.pk)
        for refused in batch.rejections:
            self.stdout.write(f"refused row {refused['row']}: {refused['error']}")
        self.stdout.write(
            f"batch #{batch.pk}: {batch.rows_total} rows, {batch.rows_new} new, {batch.rows_duplicate} duplicate,"
            f" {batch.rows_rejected} refused"
        )
