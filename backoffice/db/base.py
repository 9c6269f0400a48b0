"""Django's PostgreSQL backend with commit writes (see ``backoffice.db``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction  # type: ignore[attr-defined]
from django.db.transaction import TransactionManagementError

Order = tuple[Any, ...]
# Django's own backend, typed loosely: its private transaction hooks (_commit, _savepoint...) that
# this class extends are not in django-stubs.
_Django: Any = base.DatabaseWrapper
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DECLARED: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (sql, types): one statement per name


@dataclass(frozen=True)
class Prepared:
    """A statement prepared once per connection: ``sql`` uses ``$1``, ``$2``... for its parameters,
    whose types ``types`` gives in that order (as SQL type names)."""

    name: str
    sql: str
    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"Prepared: {self.name!r} is not a plain lower-case SQL name")
        declared = _DECLARED.setdefault(self.name, (self.sql, self.types))
        if declared != (self.sql, self.types):
            raise ValueError(f"Prepared: {self.name!r} is already declared with other SQL")

    @property
    def prepare_sql(self) -> str:
        types = f" ({', '.join(self.types)})" if self.types else ""
        return f"PREPARE {self.name}{types} AS {self.sql}"

    @property
    def execute_sql(self) -> str:
        return f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.types))})" if self.types else f"EXECUTE {self.name}"


Write = tuple[Order, str, Sequence[Any], Prepared | None]  # (order, sql, params, the statement it executes)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commit_writes: list[Write] = []
        self._commit_write_marks: dict[str, int] = {}  # savepoint id -> queue length when it was set
        # Names prepared in the current session. Unknown after a failed send: its PREPAREs may or
        # may not have run (they outlive the transaction), so the next send asks the server.
        self._prepared: set[str] = set()
        self._prepared_unknown = False

    # --- queueing ----------------------------------------------------------------------------

    def commit_write(self, sql: str | Prepared, params: Sequence[Any], *, order: Order = (0,)) -> None:
        if not self.in_atomic_block:
            raise TransactionManagementError("commit_write needs an atomic block: it runs with its COMMIT")
        # Like a query: refused in a transaction already marked for rollback, or whose connection
        # was closed (the write would otherwise wait for the next transaction's COMMIT).
        self.validate_no_broken_transaction()
        if self.closed_in_transaction or self.connection is None:
            raise TransactionManagementError("commit_write: the connection was closed inside this transaction")
        if isinstance(sql, Prepared):
            if len(params) != len(sql.types):
                raise TypeError(f"commit_write: {sql.name} takes {len(sql.types)} parameters, got {len(params)}")
            self.commit_writes.append((order, sql.execute_sql, params, sql))
        else:
            self.commit_writes.append((order, sql, params, None))
        if self._only_test_case_blocks():
            self._send_commit_writes()  # no block of the application's own: nothing to wait for

    def _only_test_case_blocks(self) -> bool:
        """True inside Django's test case transaction(s) and no block of the application's."""
        return bool(self.atomic_blocks) and all(getattr(a, "_from_testcase", False) for a in self.atomic_blocks)

    def _take_commit_writes(self) -> list[Write]:
        writes = sorted(self.commit_writes, key=lambda write: write[0])  # stable: arrival order within a key
        self._drop_commit_writes()
        return writes

    def _drop_commit_writes(self) -> None:
        self.commit_writes = []
        self._commit_write_marks.clear()

    def _statements(self, cursor: psycopg.ClientCursor[Any], writes: list[Write]) -> tuple[list[str], set[str]]:
        """The queue rendered as SQL statements: first a PREPARE for each prepared statement this
        session does not have yet (no round trip of its own: it goes with the rest), then every write
        with its parameters bound client-side by psycopg. Also returns the names it prepares."""
        if self._prepared_unknown:  # after a failed send: what did its PREPAREs leave behind?
            cursor.execute("SELECT name FROM pg_prepared_statements")
            self._prepared = {row[0] for row in cursor.fetchall()}
            self._prepared_unknown = False
        needed = {p.name: p for *_, p in writes if p is not None and p.name not in self._prepared}
        rendered = [cursor.mogrify(sql, params or None) for _, sql, params, _ in writes]
        return [p.prepare_sql for p in needed.values()] + rendered, set(needed)

    def _send(self, *, commit: bool) -> None:
        """Send the queue in one query string, one round trip: the statements, then (``commit``)
        the COMMIT. Each statement is rendered on its own (its parameters bound client-side by
        psycopg, with its escaping), then they are joined with the separator on a line of its own (a
        statement ending in a -- comment cannot swallow it). The server runs them in order and stops
        at the first error: the COMMIT does not happen, the transaction is left failed, and Django
        rolls it back."""
        writes = self._take_commit_writes()
        with psycopg.ClientCursor(self.connection) as cursor:
            statements, preparing = self._statements(cursor, writes)
            try:
                cursor.execute("\n;\n".join([*statements, "COMMIT"] if commit else statements))
            except Exception:
                self._prepared_unknown = True
                raise
            self._prepared |= preparing

    def _send_commit_writes(self) -> None:
        """Send the queue now, as ordinary statements of the open transaction."""
        with self.wrap_database_errors:
            self._send(commit=False)

    # --- the transaction's end -----------------------------------------------------------------

    def _commit(self) -> None:
        if not self.commit_writes or self.connection is None:
            return _Django._commit(self)
        with debug_transaction(self, "COMMIT (with commit writes)"), self.wrap_database_errors:
            self._send(commit=True)
            self.connection.commit()  # no-op when the COMMIT above ended the transaction

    def _rollback(self) -> None:
        self._drop_commit_writes()
        _Django._rollback(self)

    def _close(self) -> None:
        self._drop_commit_writes()
        self._prepared, self._prepared_unknown = set(), False
        _Django._close(self)

    def connect(self) -> None:
        # A new session has no transaction: nothing queued for an earlier one may reach it; and
        # none of the earlier session's prepared statements.
        self._drop_commit_writes()
        self._prepared, self._prepared_unknown = set(), False
        super().connect()

    # --- savepoints ----------------------------------------------------------------------------

    def _savepoint(self, sid: str) -> None:
        _Django._savepoint(self, sid)
        self._commit_write_marks[sid] = len(self.commit_writes)

    def _savepoint_rollback(self, sid: str) -> None:
        _Django._savepoint_rollback(self, sid)
        mark = self._commit_write_marks.get(sid)
        if mark is not None:
            del self.commit_writes[mark:]

    def _savepoint_commit(self, sid: str) -> None:
        # Django has already popped the block being left: if only the test case's remain, this is
        # where a real transaction would commit, so the queue is sent now (inside the savepoint,
        # so that a failure rolls back to it like any other error in the block).
        if self.commit_writes and self._only_test_case_blocks():
            self._send_commit_writes()
        _Django._savepoint_commit(self, sid)
        self._commit_write_marks.pop(sid, None)
