"""The reports read through a database router: only reads inside ``reporting_reads`` go to the
reporting alias (a replica when REPORTING_DATABASE_URL is set); writes and other reads stay on
the main database; nothing migrates the replica."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import Client
from reporting.routers import ReportingRouter, reporting_reads


@override_settings(REPORTING_DATABASE_ALIAS="reporting")
def test_reads_inside_reporting_go_to_the_replica_and_nothing_else_does() -> None:
    router = ReportingRouter()
    assert router.db_for_read(Client) is None
    with reporting_reads() as alias:
        assert alias == "reporting"
        assert router.db_for_read(Client) == "reporting"
        assert router.db_for_write(Client) is None
    assert router.db_for_read(Client) is None
    assert router.allow_migrate("reporting", "accounts") is False
    assert router.allow_migrate("default", "accounts") is True


def test_without_a_replica_the_reports_read_the_main_database() -> None:
    with reporting_reads() as alias:
        assert alias == "default"
        assert Client.objects.all().db == "default"


def test_settings_add_the_replica_alias_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import backoffice.settings.base as base

    monkeypatch.setenv("REPORTING_DATABASE_URL", "postgres://reader:secret@replica.example:5432/backoffice")
    try:
        reloaded = importlib.reload(base)
        assert reloaded.REPORTING_DATABASE_ALIAS == "reporting"
        assert reloaded.DATABASES["reporting"]["HOST"] == "replica.example"
        assert reloaded.DATABASES["reporting"]["TEST"] == {"MIRROR": "default"}
    finally:
        monkeypatch.delenv("REPORTING_DATABASE_URL")
        importlib.reload(base)
