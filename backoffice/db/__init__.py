"""The project's database backend: Django's PostgreSQL backend plus *commit writes*.

A commit write is a statement that belongs to the open transaction but does not need to run before
its end: an audit event, an increment of a shared (house) balance row. Instead of a network round
trip each, they are queued on the connection and sent to the server together with the COMMIT, in
one query string (each statement rendered with its own parameters by psycopg, then the COMMIT).
They commit or roll back with everything else in the transaction (a savepoint
rolled back drops the ones queued inside it), and a shared row they touch is locked only for the
commit itself instead of for the rest of the transaction.

    from backoffice.db import commit_write
    commit_write(sql, params, order=(1, account_id))

Statements are sent sorted by ``order`` (stable), so rows locked at commit are always locked in the
same order by every transaction: no deadlocks between them.

A statement written on every hot path can be a ``Prepared`` one: the server parses and plans it
once per session (its PREPARE goes in the same query string as the first COMMIT that needs it: no
round trip of its own) and every later commit sends only ``EXECUTE name(parameters)``. A PREPARE
outlives the transaction it was sent in, whatever its fate; after a failed send the backend asks the
server (``pg_prepared_statements``) what it holds before preparing again, so a session whose
statements were dropped behind its back (``DEALLOCATE``) heals on its next transaction. A new
connection prepares again. (Session-level prepared statements need a session per client: behind
PgBouncer, use session pooling.)

Under Django's test case (whose outer transaction never commits) they are sent when the outermost
block that is not the test case's exits, which is where the commit would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.utils import DEFAULT_DB_ALIAS

from backoffice.db.base import Prepared

Order = tuple[Any, ...]

__all__ = ["Prepared", "commit_write", "pending_commit_writes"]


def commit_write(
    sql: str | Prepared, params: Sequence[Any], *, order: Order = (0,), using: str = DEFAULT_DB_ALIAS
) -> None:
    """Queue ``sql`` to run in the open transaction, just before its COMMIT. Must be in an atomic block.
    Placeholders are ``%s`` (a literal ``%`` is ``%%``), as in ``cursor.execute``; with no parameters
    the SQL is sent as it is. A ``Prepared`` statement takes its parameters in its own order."""
    connections[using].commit_write(sql, params, order=order)  # type: ignore[attr-defined]


def pending_commit_writes(using: str = DEFAULT_DB_ALIAS) -> int:
    """How many statements are queued for the open transaction's commit."""
    return len(connections[using].commit_writes)  # type: ignore[attr-defined]
