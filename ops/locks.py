"""Row locks of the ops app, one helper per model, always taken in primary-key order."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from ops.models import ApprovalRequest, WorkItem


def work_item_lock(item_id: int) -> WorkItem:
    return get_object_or_404(
        WorkItem.objects.select_for_update(of=("self",)).select_related("queue", "owner", "owner__lead"), pk=item_id
    )


def approval_request_lock(request_id: int) -> ApprovalRequest:
    return get_object_or_404(
        ApprovalRequest.objects.select_for_update(of=("self",)).select_related("maker", "subject_type"), pk=request_id
    )
