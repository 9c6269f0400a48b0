"""The backup and restore drill: a backup taken in one snapshot restores into a fresh database where
audit_verify and ledger_verify pass and the audit chain head is the source's."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditSeal
from audit.services import audit_seal
from payments.models import JournalEntry
from tests.conftest import owner_url
from tests.factories import approved_client, card_deposit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.serial,
]  # pg_dump is another session: it sees committed rows


def _some_history() -> AuditSeal:
    client = approved_client(provision=False)
    card_deposit(client, "250.00")
    audit_seal()
    return AuditSeal.objects.latest("seq")


def test_good_backup_restores_with_a_verified_chain_and_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _some_history()
    assert JournalEntry.objects.exists()
    archive = tmp_path / "backoffice.dump"
    call_command("backup_database", str(archive))
    manifest = json.loads((tmp_path / "backoffice.dump.json").read_text())
    assert manifest["chain_head"] == {"seq": head.seq, "hash": head.hash}

    _some_history()  # the source moves on after the backup; the restore is of the backup's moment
    call_command("restore_drill", str(archive))
    out = capsys.readouterr().out
    assert f"audit chain OK: {head.seq} events verified" in out
    assert "ledger OK:" in out
    assert f"restore drill OK: chain head #{head.seq} matches the backup" in out
    with psycopg.connect(owner_url("postgres")) as conn:  # the drill database is dropped afterwards
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE '%%_drill_%%'").fetchone() == (0,)


def test_bad_changed_archive_fails_the_drill(tmp_path: Path) -> None:
    _some_history()
    archive = tmp_path / "backoffice.dump"
    call_command("backup_database", str(archive))
    with archive.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(CommandError, match="SHA-256 does not match its manifest"):
        call_command("restore_drill", str(archive))


def test_bad_restore_whose_chain_was_tampered_fails_the_drill(tmp_path: Path) -> None:
    head = _some_history()
    archive = tmp_path / "backoffice.dump"
    call_command("backup_database", str(archive))
    manifest_file = tmp_path / "backoffice.dump.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["chain_head"]["hash"] = "0" * 64  # a backup that is not the chain it claims
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match=rf"restored chain head .*seq={head.seq}.* differs"):
        call_command("restore_drill", str(archive))
