"""Is the scheduled-job pipeline alive? Celery beat sends ``scheduler_heartbeat_task`` every
minute; the worker that runs it records the time. Everything periodic (escalations, audit sealing
and its watch, reconciliation, KYC expiry, approval expiry) goes the same way, so a heartbeat older
than ``SCHEDULER_STALL_SECONDS`` means beat, the broker or every worker is down, and none of those
jobs, including the watches that would raise a system alert, is running. It is reported where it
can still be seen: ``/healthz/jobs`` (for monitoring) and a banner on every staff page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F
from django.db.models.functions import Now

from ops.models import JobHeartbeat

SCHEDULER = "scheduler"


def heartbeat_record(*, worker: str, name: str = SCHEDULER) -> None:
    # The database's clock, here and where the age is read: the worker's and the web server's
    # clocks never enter into it.
    JobHeartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": Now(), "worker": worker[:200]})


@dataclass(frozen=True)
class SchedulerStatus:
    seen_at: datetime | None  # None: no heartbeat recorded yet (a new installation)
    age_seconds: float | None
    stall_seconds: int

    @property
    def stalled(self) -> bool:
        return self.age_seconds is not None and self.age_seconds > self.stall_seconds

    @property
    def summary(self) -> str:
        if self.seen_at is None or self.age_seconds is None:
            return "no heartbeat recorded yet: scheduled jobs have not run since the installation"
        state = "stalled" if self.stalled else "ok"
        return f"{state}: scheduled jobs last ran {self.age_seconds:.0f} s ago (limit {self.stall_seconds} s)"


def scheduler_status() -> SchedulerStatus:
    age = ExpressionWrapper(Now() - F("last_seen_at"), output_field=DurationField())
    row = JobHeartbeat.objects.filter(name=SCHEDULER).annotate(age=age).values_list("last_seen_at", "age").first()
    limit = settings.SCHEDULER_STALL_SECONDS
    if row is None:
        return SchedulerStatus(seen_at=None, age_seconds=None, stall_seconds=limit)
    seen_at, since = row
    return SchedulerStatus(seen_at=seen_at, age_seconds=max(0.0, since.total_seconds()), stall_seconds=limit)
