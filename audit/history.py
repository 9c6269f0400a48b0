"""django-simple-history, the way this project uses it.

Every domain model declares ``history = AuditedHistoricalRecords()``. Each history table:
- records the acting actor (staff, partner, system job, automation) next to simple-history's user,
  and refuses to be written without one;
- records the change reason the service set (``instance._change_reason``);
- is append-only in the database (UPDATE, DELETE and TRUNCATE raise).
"""

from __future__ import annotations

from typing import Any

import pgtrigger
from django.db import connection, models
from django.utils import timezone
from fast_update.fast import fast_update
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record
from simple_history.utils import bulk_create_with_history, get_history_manager_for_model

from audit import errors
from audit.context import current_actor
from audit.models import append_only_triggers


class HistoryActorMixin(models.Model):
    history_actor = models.CharField(max_length=150)

    class Meta:
        abstract = True


def _history_user(request: Any = None, **kwargs: Any) -> Any:
    """simple-history's user column: the signed-in staff member. A caller that is no user (an API
    key of the client area or of a partner, ``ops.api.ApiCaller``) leaves it empty; the history
    row names it in ``history_actor``."""
    from django.contrib.auth import get_user_model

    user = getattr(request, "user", None)
    return user if isinstance(user, get_user_model()) else None


class AuditedHistoricalRecords(HistoricalRecords):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("get_user", _history_user)
        kwargs.setdefault("bases", [HistoryActorMixin])
        kwargs.setdefault("cascade_delete_history", False)
        super().__init__(**kwargs)

    def get_history_user(self, instance: Any) -> Any:
        """simple-history's user is a staff account or none: a call with a partner's or the client
        area's API key (``request.user`` an ``ops.api.ApiCaller``) is named by ``history_actor``."""
        from django.contrib.auth import get_user_model

        user = super().get_history_user(instance)
        return user if isinstance(user, get_user_model()) else None

    def create_history_model(self, model: type[models.Model], inherited: bool) -> type[models.Model]:
        history_model = super().create_history_model(model, inherited)
        pgtrigger.register(*append_only_triggers())(history_model)
        return history_model


def _stamp_actor(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    if not isinstance(history_instance, HistoryActorMixin):
        return
    actor = current_actor()
    if actor is None:
        from audit.errors import AuditError

        raise AuditError(errors.MISSING_ACTOR)
    history_instance.history_actor = actor.label


pre_create_historical_record.connect(_stamp_actor, dispatch_uid="audit.history.stamp_actor")


def _actor_label() -> str:
    actor = current_actor()
    if actor is None:
        from audit.errors import AuditError

        raise AuditError(errors.MISSING_ACTOR)
    return actor.label


def bulk_create_audited(objs: list[Any], model: type[models.Model], *, ignore_conflicts: bool = False) -> list[Any]:
    """``bulk_create`` that also writes the history rows ("+"), stamped with the acting actor (simple-
    history's bulk path sends no signal, so the stamp is passed explicitly). Without
    ``ignore_conflicts`` the history rows are copied by the database (``history_snapshot``)."""
    label = _actor_label()
    if not ignore_conflicts:
        created = model._default_manager.bulk_create(objs)
        history_snapshot(model, [obj.pk for obj in created], history_type="+", actor_label=label)
        return created
    return list(
        bulk_create_with_history(
            objs, model, ignore_conflicts=ignore_conflicts, custom_historical_attrs={"history_actor": label}
        )
    )


def bulk_update_audited(objs: list[Any], model: type[models.Model], fields: list[str]) -> int:
    """``bulk_update`` of ``fields`` that also writes one history row per object (a change, "~"),
    stamped with the acting actor: what ``save()`` would have recorded for each, in two statements.
    The caller holds the rows' locks."""
    label = _actor_label()
    updated = fast_update_rows(objs, model, fields)
    history_snapshot(model, [obj.pk for obj in objs], history_type="~", actor_label=label)
    return updated


def history_snapshot(
    model: type[models.Model], pks: list[Any], *, history_type: str, actor_label: str | None = None
) -> int:
    """One history row for each of these rows, copied from the table as it now stands by the
    database itself (``INSERT ... SELECT``), stamped with the acting actor and the time: what simple-
    history writes on save, without building a Python object per row. Returns the rows written."""
    if not pks:
        return 0
    label = actor_label or _actor_label()
    history = get_history_manager_for_model(model).model
    tracked = {field.column for field in history._meta.concrete_fields}
    columns = [field.column for field in model._meta.concrete_fields if field.column in tracked]
    qn = connection.ops.quote_name
    pk = qn(model._meta.pk.column)
    sql = (
        f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(qn(c) for c in columns)}, history_date,"  # noqa: S608 - quoted model identifiers
        " history_change_reason, history_type, history_user_id, history_actor)"
        f" SELECT {', '.join('t.' + qn(c) for c in columns)}, %s, NULL, %s, NULL, %s"
        f" FROM {qn(model._meta.db_table)} t WHERE t.{pk} = ANY(%s) ORDER BY t.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), history_type, label, list(pks)])
        return int(cursor.rowcount)


def fast_update_rows(objs: list[Any], model: type[models.Model], fields: list[str]) -> int:
    """``bulk_update`` as one ``UPDATE ... FROM (VALUES ...)`` (django-fast-update): Django's own
    builds a CASE expression per field and row, which costs more than the rows themselves."""
    return int(fast_update(model._default_manager.all(), objs, fields, None, unfiltered=True))


# The personal fields whose history the retention job may overwrite, per model label. The
# application role may UPDATE these columns of the history tables and nothing else there
# (backoffice/db_roles.py); apps register theirs when they load.
PSEUDONYMISABLE: dict[str, tuple[str, ...]] = {}


def register_pseudonymisable(model: type[models.Model], fields: tuple[str, ...]) -> None:
    PSEUDONYMISABLE[model._meta.label] = fields


def pseudonymisable_history_columns() -> dict[str, list[str]]:
    """History table -> the columns the application role may update (for the grants)."""
    from django.apps import apps

    columns = {}
    for label, fields in sorted(PSEUDONYMISABLE.items()):
        model = apps.get_model(label)
        history = get_history_manager_for_model(model).model
        columns[history._meta.db_table] = [history._meta.get_field(f).column for f in fields]
    return columns


def history_pseudonymise(model: type[models.Model], object_ids: list[Any], values: dict[str, Any]) -> int:
    """Overwrite personal fields in every history row of these objects (the retention job, once the
    regulatory period is over). The one UPDATE of history rows there is: through pgtrigger's bypass of
    that table's ``append_only_update`` alone, of registered columns only (the database refuses any
    other), inside the caller's audited transaction; the rows stay (their dates, types, actors and
    every other field), and the audit chain, which hashes events only, still verifies."""
    allowed = PSEUDONYMISABLE.get(model._meta.label, ())
    if not set(values) <= set(allowed):
        raise ValueError(f"{model._meta.label}: {sorted(set(values) - set(allowed))} not registered as pseudonymisable")
    if not object_ids:
        return 0
    history = get_history_manager_for_model(model).model
    with pgtrigger.ignore(f"{history._meta.label}:append_only_update"):
        return int(history._default_manager.filter(id__in=object_ids).update(**values))
