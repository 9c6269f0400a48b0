from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments.services.ledger import ledger_verify


class Command(BaseCommand):
    help = "Check that every journal entry balances and every balance equals the sum of its postings."

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_verify()
        checked = (
            f"{report.entries} entries, {report.postings} postings, {report.accounts} balances, {report.holds} holds"
        )
        if not report.ok:
            for line in report.breaks:
                self.stderr.write(f"BREAK: {line}")
            raise CommandError(f"ledger BROKEN: {len(report.breaks)} break(s) in {checked}; first: {report.breaks[0]}")
        self.stdout.write(f"ledger OK: {checked} checked; every entry balanced, every balance equals its postings")
