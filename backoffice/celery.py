"""The Celery app. Every task runs as a system actor named after the task, so whatever it changes
is attributed in the audit trail and in history; every log line it causes carries the task's id
and name."""

from __future__ import annotations

import os
from typing import Any

import structlog
from celery import Celery, Task, signals

from audit.context import Actor, acting_as

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.dev")


class ActorTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with acting_as(Actor.system(self.name)):
            return super().__call__(*args, **kwargs)


app = Celery("backoffice", task_cls=ActorTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _logging_from_settings(**_: Any) -> None:
    """Workers and beat log through settings.LOGGING (JSON lines in production), like the web."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _bind_task_to_logs(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    """From here to postrun (Celery's own "succeeded"/"raised" lines included), every log line
    names the task."""
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


@signals.task_postrun.connect
def _unbind_task_from_logs(**_: Any) -> None:
    structlog.contextvars.unbind_contextvars("task_id", "task_name")


@signals.task_failure.connect
def _count_task_failure(sender: Task | None = None, **_: Any) -> None:
    from backoffice.metrics import task_failure_record

    task_failure_record(getattr(sender, "name", "unknown"))
