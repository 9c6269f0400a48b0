from celery import shared_task

from ops.services.approvals import approvals_expire_due
from ops.services.work_items import work_items_escalate_overdue


@shared_task(ignore_result=True)
def work_items_escalate_task() -> int:
    return work_items_escalate_overdue()


@shared_task(ignore_result=True)
def approvals_expire_task() -> int:
    return approvals_expire_due()
