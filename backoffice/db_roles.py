"""Two database roles: the owner, and the application.

- The **owner** (``DATABASE_OWNER_URL``) owns the schema: ``manage.py migrate`` connects as it
  (backoffice/management/commands/migrate.py), and so do the backup and the restore drill.
- The **application** role (``DATABASE_URL``) is what the web, the workers and beat connect as. It
  owns nothing, so it cannot ``ALTER``/``DROP``/``TRUNCATE`` a table nor ``DISABLE TRIGGER`` on the
  audit and history tables; it reads and writes rows, and on the audit chain it may only read and
  insert (so not even a trigger bypass lets it edit the chain); history rows it reads and inserts,
  and updates only the personal columns that retention pseudonymises.

``app_privileges_grant`` runs after every ``migrate`` (idempotent); ``ALTER DEFAULT PRIVILEGES``
covers the tables a later migration creates before that grant runs again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

# The hash chain, and the security log: the application inserts and reads, never updates or deletes.
AUDIT_CHAIN_TABLES = ("audit_auditevent", "audit_auditseal", "audit_auditsealbatch")
APPEND_ONLY_TABLES = (*AUDIT_CHAIN_TABLES, "audit_securityevent")
# Append-only tables holding personal data: never deleted; only the retention job's pseudonymised
# columns may be updated (accounts.services.retention; the append-only trigger refuses even that unless bypassed).
PSEUDONYMISABLE_APPEND_ONLY = {
    "accounts_clientsignin": ("ip_address", "country", "user_agent", "device_id", "device_source")
}


def history_tables() -> list[str]:
    from django.apps import apps

    from audit.history import HistoryActorMixin

    return sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, HistoryActorMixin))


def app_privileges_statements(*, app_role: str, owner_role: str, quote: Callable[[str], str]) -> list[str]:
    from audit.history import pseudonymisable_history_columns

    q = quote  # connection.ops.quote_name
    app, owner = q(app_role), q(owner_role)
    statements = [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {app}",
    ]
    statements += [f"REVOKE UPDATE, DELETE ON {q(t)} FROM {app}" for t in APPEND_ONLY_TABLES]
    # History rows: never deleted; only the personal columns the retention job pseudonymises may be
    # updated (accounts.services.retention), and the append-only trigger refuses even that unless bypassed.
    statements += [f"REVOKE UPDATE, DELETE ON {q(t)} FROM {app}" for t in history_tables()]
    for table, append_only_columns in PSEUDONYMISABLE_APPEND_ONLY.items():
        statements.append(f"REVOKE UPDATE, DELETE ON {q(table)} FROM {app}")
        statements.append(f"GRANT UPDATE ({', '.join(q(c) for c in append_only_columns)}) ON {q(table)} TO {app}")
    for table, columns in pseudonymisable_history_columns().items():
        statements.append(f"GRANT UPDATE ({', '.join(q(c) for c in columns)}) ON {q(table)} TO {app}")
    return statements


def app_privileges_grant(connection: BaseDatabaseWrapper, *, app_role: str) -> list[str]:
    """Give ``app_role`` exactly the application's privileges on this database; run as the owner."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner_role = cursor.fetchone()[0]
        if owner_role == app_role:
            return []
        statements = app_privileges_statements(
            app_role=app_role, owner_role=owner_role, quote=connection.ops.quote_name
        )
        for sql in statements:
            cursor.execute(sql)
    return statements


@contextlib.contextmanager
def connected_as_owner(alias: str = "default") -> Iterator[BaseDatabaseWrapper]:
    """The ``alias`` connection, reconnected as the owner role for the block (outside any
    transaction), then back as the role it had. Without ``DATABASE_OWNER_URL``, unchanged."""
    connection = connections[alias]
    owner = settings.DATABASE_OWNER
    if owner is None or connection.settings_dict.get("USER") == owner["USER"]:
        yield connection
        return
    if connection.in_atomic_block:
        raise RuntimeError("cannot switch to the owner role inside a transaction")
    saved = {key: connection.settings_dict.get(key) for key in ("USER", "PASSWORD")}
    connection.close()
    connection.settings_dict.update(owner)
    try:
        yield connection
    finally:
        connection.close()
        connection.settings_dict.update(saved)
