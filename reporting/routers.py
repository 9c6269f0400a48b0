"""Reports read from ``settings.REPORTING_DATABASE_ALIAS`` (a read replica when
``REPORTING_DATABASE_URL`` is set, else the main database), the way the Django docs route reads:
a router in ``DATABASE_ROUTERS``. Only reads made inside :func:`reporting_reads` (every report
page, export and snapshot) are routed there; everything else, and every write, goes to ``default``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings

_reading: ContextVar[bool] = ContextVar("reporting_reads", default=False)

F = TypeVar("F", bound=Callable[..., Any])


def reporting_alias() -> str:
    return str(getattr(settings, "REPORTING_DATABASE_ALIAS", "default"))


@contextmanager
def reporting_reads() -> Iterator[str]:
    """Route the reads made inside to the reporting database; yields its alias."""
    token = _reading.set(True)
    try:
        yield reporting_alias()
    finally:
        _reading.reset(token)


def reads_reporting(func: F) -> F:
    """A view or selector whose reads go to the reporting database."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reporting_reads():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class ReportingRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return reporting_alias() if _reading.get() else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return None  # writes (the export's audit event) always go to the main database

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the replica is a copy of the same database

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return db == "default"  # the replica follows the main database; nothing migrates it
