"""Finding 11: the application is no database superuser. It connects as a role that owns nothing
(the owner role migrates), so it cannot switch the audit and history triggers off, drop, truncate
or alter a table, nor edit the audit chain; and it can do its normal work."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from accounts.models import Client
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_seal
from tests.factories import approved_client

pytestmark = [pytest.mark.django_db, pytest.mark.serial]


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(info.value)


def test_good_the_tests_connect_as_the_application_role_which_is_no_superuser() -> None:
    assert settings.DATABASE_OWNER is not None, "make test sets DATABASE_OWNER_URL"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
            " FROM pg_roles WHERE rolname = current_user"
        )
        user, *powers = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
        owned = cursor.fetchone()[0]
    assert user == settings.DATABASE_APP_USER != settings.DATABASE_OWNER["USER"]
    assert powers == [False, False, False, False, False]
    assert owned == 0


def test_bad_application_role_cannot_disable_the_audit_or_history_triggers() -> None:
    history = Client.history.model._meta.db_table
    for table in ("audit_auditevent", "audit_auditseal", history, "payments_posting"):
        assert f"must be owner of table {table}" in _refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert "permission denied to set parameter" in _refused("SET session_replication_role = replica")


def test_bad_application_role_cannot_drop_truncate_or_alter() -> None:
    assert "must be owner of table audit_auditevent" in _refused("DROP TABLE audit_auditevent")
    assert "must be owner of table accounts_client" in _refused("ALTER TABLE accounts_client ADD COLUMN x int")
    assert "must be owner of table accounts_client" in _refused("ALTER TABLE accounts_client OWNER TO CURRENT_USER")
    assert "permission denied for table accounts_client" in _refused("TRUNCATE accounts_client CASCADE")
    assert "permission denied for table payments_posting" in _refused("TRUNCATE payments_posting")
    assert "permission denied for schema public" in _refused("CREATE TABLE intruder (id int)")
    assert "permission denied to create role" in _refused("CREATE ROLE intruder SUPERUSER")


def test_bad_application_role_cannot_edit_the_audit_chain_even_past_the_triggers() -> None:
    approved_client(provision=False)
    audit_seal()
    # pgtrigger.ignore (a session setting anyone may set) would skip the triggers; the privilege still refuses
    for table in ("audit_auditevent", "audit_auditseal", "audit_auditsealbatch"):
        skip = f"SET LOCAL pgtrigger.ignore = '{{{table}:append_only_update,{table}:append_only_delete}}'"
        assert f"permission denied for table {table}" in _refused(f"{skip}; DELETE FROM {table}")
        assert f"permission denied for table {table}" in _refused(
            f"{skip}; UPDATE {table} SET {_col(table)} = {_col(table)}"
        )


def _col(table: str) -> str:
    return {"audit_auditseal": "hash", "audit_auditsealbatch": "head_hash"}.get(table, "id")


def test_bad_application_role_updates_history_only_in_the_pseudonymised_columns() -> None:
    client = approved_client(provision=False)
    table = Client.history.model._meta.db_table
    skip = f"SET LOCAL pgtrigger.ignore = '{{{Client.history.model._meta.label}:append_only_update}}'"
    assert f"permission denied for table {table}" in _refused(f"{skip}; UPDATE {table} SET status = 'approved'")
    assert f"permission denied for table {table}" in _refused(f"{skip}; UPDATE {table} SET history_actor = 'x'")
    # the personal columns: the privilege lets it through, the append-only trigger still refuses
    assert "Cannot update" in _refused(f"UPDATE {table} SET first_name = 'x' WHERE id = {client.pk}")


def test_good_application_role_does_its_normal_work() -> None:
    client = approved_client(provision=False)  # inserts, updates, history and audit rows
    assert audit_seal() > 0
    assert Client.objects.filter(pk=client.pk).exists()
    assert AuditEvent.objects.filter(subject_id=str(client.pk)).exists()
    assert audit_chain_verify().ok


@pytest.mark.django_db(databases=[])
def test_good_compose_gives_the_owner_password_to_migrate_alone() -> None:
    import yaml

    from tests.conftest import ROOT

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker", "beat", "migrate", "mcp"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://backoffice_app:"), name
        assert ("DATABASE_OWNER_URL" in environment) is (name == "migrate"), name
    assert "./scripts/postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]


@pytest.mark.django_db(databases=[])
def test_bad_owner_url_naming_another_database_stops_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from backoffice.env import EnvError
    from backoffice.settings.base import _owner_credentials_from_env

    app = {"ENGINE": "django.db.backends.postgresql", "HOST": "db", "PORT": 5432, "NAME": "backoffice"}
    monkeypatch.setenv("DATABASE_OWNER_URL", "postgres://backoffice_owner:pw@db:5432/backoffice")
    assert _owner_credentials_from_env(app) == {"USER": "backoffice_owner", "PASSWORD": "pw"}
    monkeypatch.setenv("DATABASE_OWNER_URL", "postgres://backoffice_owner:pw@db:5432/other")
    with pytest.raises(EnvError, match="DATABASE_OWNER_URL: must name the same server and database as DATABASE_URL"):
        _owner_credentials_from_env(app)
