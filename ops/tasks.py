from celery import Task, shared_task

from ops.services.approvals import approvals_expire_due
from ops.services.work_items import work_items_escalate_overdue


@shared_task(ignore_result=True)
def work_items_escalate_task() -> int:
    return work_items_escalate_overdue()


@shared_task(ignore_result=True)
def approvals_expire_task() -> int:
    return approvals_expire_due()


@shared_task(ignore_result=True)
def audit_seal_watch_task() -> int | None:
    from ops.services.system_alerts import audit_seal_watch

    item = audit_seal_watch()
    return item.pk if item is not None else None


@shared_task(ignore_result=True)
def security_alerts_task() -> int:
    from ops.services.security_alerts import security_alerts_raise

    return len(security_alerts_raise())


@shared_task(bind=True, max_retries=5)
def interaction_send_task(self: Task, *, interaction_id: int) -> str:
    """Send one message; a refusal (mail server, SMS provider) is retried with backoff, and when the
    retries are spent the message is marked failed with the reason, in the client's log."""
    from ops.services.interactions import interaction_fail, interaction_send
    from ops.sms import SmsError

    try:
        return interaction_send(interaction_id=interaction_id)
    except (OSError, SmsError) as exc:
        if self.request.retries >= (self.max_retries or 0):
            return interaction_fail(interaction_id=interaction_id, reason=str(exc) or type(exc).__name__).status
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from None


@shared_task(ignore_result=True)
def interactions_send_task(*, interaction_ids: list[int]) -> None:
    """Send a batch of messages (logged together, e.g. by a batch of deposits credited at once).
    One that cannot be sent now is handed to ``interaction_send_task``, which retries it alone."""
    from ops.services.interactions import interaction_send
    from ops.sms import SmsError

    for interaction_id in interaction_ids:
        try:
            interaction_send(interaction_id=interaction_id)
        except (OSError, SmsError):
            interaction_send_task.delay(interaction_id=interaction_id)


@shared_task(bind=True, ignore_result=True)
def scheduler_heartbeat_task(self: Task) -> None:
    from ops.services.heartbeat import heartbeat_record

    heartbeat_record(worker=str(self.request.hostname or "unknown"))


@shared_task(ignore_result=True)
def access_review_open_due_task() -> int | None:
    """Daily (beat): open the quarter's access review for compliance when it is due."""
    from ops.services.access_review import access_review_open_due

    review = access_review_open_due()
    return review.pk if review is not None else None


@shared_task(ignore_result=True)
def webhook_deliver_task(*, delivery_id: int) -> str:
    """One attempt of one delivery (a no-op unless it is due and unclaimed: safe to run twice)."""
    from ops.services.webhooks import webhook_deliver

    return webhook_deliver(delivery_id=delivery_id).result


@shared_task(ignore_result=True)
def webhooks_sweep_task() -> tuple[int, int]:
    """Beat: fan out the outbox's leftovers; queue the deliveries due and unclaimed."""
    from ops.services.webhooks import webhooks_sweep

    return webhooks_sweep()


@shared_task(ignore_result=True)
def followups_run_due_task() -> int:
    """Beat: run the follow-up steps that are due (reminders, then a work item for a person)."""
    from ops.services.followups import followups_run_due

    return followups_run_due()


@shared_task(ignore_result=True)
def sms_inbound_process_task(*, event_pk: int) -> str:
    """Process one stored SMS callback (a no-op when it was processed already)."""
    from ops.services.sms_inbound import sms_inbound_process

    return sms_inbound_process(event_pk=event_pk).status


@shared_task(ignore_result=True)
def sms_inbound_drain_task() -> int:
    """Beat: process the SMS callbacks stored but not processed (their task was lost)."""
    from ops.services.sms_inbound import sms_inbound_drain

    return sms_inbound_drain()
