"""The database backend's commit writes (backoffice.db): statements of the open transaction sent
with its COMMIT. They must behave exactly like the transaction's other statements: committed with
it, rolled back with it or with a savepoint around them, and a failure among them fails the COMMIT
and leaves nothing of the transaction behind."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError

from backoffice.db import Prepared, commit_write, pending_commit_writes

INSERT = "INSERT INTO commit_write_probe (label) VALUES (%s)"


@pytest.fixture
def probe(django_db_blocker: pytest.FixtureRequest) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS commit_write_probe (id bigserial PRIMARY KEY, label text NOT NULL"
            " CHECK (label <> ''))"
        )
        cursor.execute("DELETE FROM commit_write_probe")


def _labels() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT label FROM commit_write_probe ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


pytestmark = pytest.mark.django_db(transaction=True)


def test_good_writes_are_sent_with_the_commit_in_their_order(probe: None) -> None:
    with transaction.atomic():
        commit_write(INSERT, ["second"], order=(1, 2))
        commit_write(INSERT, ["first"], order=(1, 1))
        commit_write(INSERT, ["audit"])  # default order (0,): before the others
        assert pending_commit_writes() == 3
        assert _labels() == []  # nothing sent yet: they go with the COMMIT
    assert pending_commit_writes() == 0
    assert _labels() == ["audit", "first", "second"]


def test_good_savepoint_rolled_back_drops_what_was_queued_inside(probe: None) -> None:
    with transaction.atomic():
        commit_write(INSERT, ["kept"])
        with pytest.raises(RuntimeError), transaction.atomic():
            commit_write(INSERT, ["dropped"])
            raise RuntimeError("the inner change failed")
        with transaction.atomic():
            commit_write(INSERT, ["kept too"])
    assert _labels() == ["kept", "kept too"]


def test_bad_write_fails_the_commit_and_leaves_nothing(probe: None) -> None:
    with pytest.raises(IntegrityError, match="commit_write_probe_label_check"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO commit_write_probe (label) VALUES ('the change itself')")
        commit_write(INSERT, ["fine"])
        commit_write(INSERT, [""])  # violates the check: found at COMMIT
    assert _labels() == []
    assert pending_commit_writes() == 0
    with transaction.atomic():  # the connection is usable again
        commit_write(INSERT, ["after"])
    assert _labels() == ["after"]


def test_bad_rollback_sends_nothing(probe: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        commit_write(INSERT, ["never"])
        raise RuntimeError("the change failed")
    assert pending_commit_writes() == 0
    assert _labels() == []


def test_bad_write_outside_a_transaction_is_refused(probe: None) -> None:
    with pytest.raises(TransactionManagementError, match="needs an atomic block"):
        commit_write(INSERT, ["nowhere"])
    assert _labels() == []


def test_good_statements_keep_their_own_parameters_percent_signs_and_comments(probe: None) -> None:
    with transaction.atomic():
        commit_write("INSERT INTO commit_write_probe (label) VALUES (%s || '%%') -- a comment", ["50"])
        commit_write("INSERT INTO commit_write_probe (label) VALUES (%s), (%s)", ["two", "three"])
        commit_write("INSERT INTO commit_write_probe (label) VALUES ('100%')", [])
    assert _labels() == ["50%", "two", "three", "100%"]


def test_bad_connection_closed_in_the_transaction_loses_its_writes_and_refuses_more(probe: None) -> None:
    with pytest.raises(TransactionManagementError), transaction.atomic():
        commit_write(INSERT, ["lost with its transaction"])
        connection.close()  # a dropped connection, or a health check closing it
        commit_write(INSERT, ["refused"])
    with transaction.atomic():
        commit_write(INSERT, ["next transaction"])
    assert _labels() == ["next transaction"]


PREPARED_INSERT = Prepared(
    name="commit_write_probe_insert", sql="INSERT INTO commit_write_probe (label) VALUES ($1)", types=("text",)
)


def _prepared_here() -> dict[str, object]:
    """This session's prepared statements: name -> when it was prepared."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prepare_time FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_good_prepared_write_is_prepared_once_per_connection_and_executed_with_the_commit(probe: None) -> None:
    connection.close()  # a fresh session: nothing prepared yet
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["one"])
        assert _labels() == [] and "commit_write_probe_insert" not in _prepared_here()  # all goes with the COMMIT
    prepared_at = _prepared_here()["commit_write_probe_insert"]
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["two"])
        commit_write(PREPARED_INSERT, ["it's %s three"])  # quoting and a literal %s in a parameter
    assert _labels() == ["one", "two", "it's %s three"]
    assert _prepared_here()["commit_write_probe_insert"] == prepared_at  # not prepared again


def test_good_prepare_sent_with_a_failed_commit_is_found_again_not_sent_twice(probe: None) -> None:
    connection.close()
    with pytest.raises(IntegrityError), transaction.atomic():
        commit_write(PREPARED_INSERT, [""])  # the PREPARE runs, then the INSERT violates the check
    prepared_at = _prepared_here()["commit_write_probe_insert"]  # a PREPARE outlives its transaction
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["after the failure"])  # a second PREPARE would fail: "already exists"
    assert _labels() == ["after the failure"]
    assert _prepared_here()["commit_write_probe_insert"] == prepared_at


def test_good_session_whose_statement_was_dropped_heals_on_its_next_transaction(probe: None) -> None:
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["before"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # a pooler's reset, or psycopg's own, behind the backend's back
    with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
        commit_write(PREPARED_INSERT, ["lost with its transaction"])
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["healed"])
    assert _labels() == ["before", "healed"]


def test_good_prepared_statement_without_parameters() -> None:
    fixed = Prepared(
        name="commit_write_probe_fixed", sql="INSERT INTO commit_write_probe (label) VALUES ('fixed')", types=()
    )
    assert (fixed.prepare_sql, fixed.execute_sql) == (
        "PREPARE commit_write_probe_fixed AS INSERT INTO commit_write_probe (label) VALUES ('fixed')",
        "EXECUTE commit_write_probe_fixed",
    )


def test_good_prepared_statement_without_parameters_is_sent(probe: None) -> None:
    fixed = Prepared(
        name="commit_write_probe_fixed", sql="INSERT INTO commit_write_probe (label) VALUES ('fixed')", types=()
    )
    with transaction.atomic():
        commit_write(fixed, [])
    assert _labels() == ["fixed"]


def test_bad_prepared_name_declared_twice_with_other_sql_is_refused() -> None:
    with pytest.raises(ValueError, match="already declared with other SQL"):
        Prepared(name="commit_write_probe_insert", sql="DELETE FROM commit_write_probe", types=())


def test_good_prepared_write_is_prepared_again_on_a_new_connection(probe: None) -> None:
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["first session"])
    connection.close()
    with transaction.atomic():
        commit_write(PREPARED_INSERT, ["second session"])
    assert _labels() == ["first session", "second session"]


def test_bad_prepared_write_with_the_wrong_number_of_parameters_is_refused(probe: None) -> None:
    with pytest.raises(TypeError, match="takes 1 parameters, got 2"), transaction.atomic():
        commit_write(PREPARED_INSERT, ["a", "b"])
    assert _labels() == []


def test_bad_prepared_statement_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a plain lower-case SQL name"):
        Prepared(name="x; DROP TABLE y", sql="SELECT 1", types=())
