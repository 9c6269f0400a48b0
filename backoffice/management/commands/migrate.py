"""``manage.py migrate`` as the owner role, then the application role's privileges (backoffice/db_roles.py).

Django's own ``migrate``, connected as ``DATABASE_OWNER_URL``'s role when it is set (the web,
workers and beat connect as ``DATABASE_URL``'s role, which may not run DDL); after the migrations,
``GRANT``/``ALTER DEFAULT PRIVILEGES`` give the application role what it uses and nothing more.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands import migrate
from django.db import connections

from backoffice.db_roles import app_privileges_grant, connected_as_owner


class Command(migrate.Command):
    help = f"{migrate.Command.help} Runs as the owner role (DATABASE_OWNER_URL); grants the application role."

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        if alias != "default" or settings.DATABASE_OWNER is None:
            super().handle(*args, **options)
            return
        with connected_as_owner(alias):
            super().handle(*args, **options)
            granted = app_privileges_grant(connections[alias], app_role=settings.DATABASE_APP_USER)
        if granted and options["verbosity"] >= 1:
            self.stdout.write(f"Granted the application role {settings.DATABASE_APP_USER!r} its privileges.")
