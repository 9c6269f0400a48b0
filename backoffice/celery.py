"""The Celery app. Every task runs as a system actor named after the task, so whatever it changes
is attributed in the audit trail and in history."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task

from audit.context import Actor, acting_as

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.dev")


class ActorTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with acting_as(Actor.system(self.name)):
            return super().__call__(*args, **kwargs)


app = Celery("backoffice", task_cls=ActorTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
