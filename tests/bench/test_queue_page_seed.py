"""The queue page benchmark seeds its items without breaking one open item per subject and queue,
also when the database already holds open items of another benchmark (as in ``make bench``, where
audit_throughput runs first) and when it runs again in the same database."""

from __future__ import annotations

import random

import pytest

from bench import queue_page
from ops.models import Queue, User, WorkItem, WorkItemStatus

TOTAL = 300


@pytest.mark.django_db(transaction=True)  # seed() ends with VACUUM ANALYZE, which refuses a transaction
def test_seed_draws_no_subject_that_already_has_an_open_item_in_the_queue() -> None:
    from django.contrib.contenttypes.models import ContentType

    # Another benchmark's open items on the very subjects the seeding draws from, in two queues.
    subjects = queue_page._subjects(TOTAL)
    user_type = ContentType.objects.get_for_model(User)
    queues = [Queue.objects.order_by("id").first(), Queue.objects.get(code="kyc_review")]
    WorkItem.objects.bulk_create(
        WorkItem(queue=q, subject_type=user_type, subject_id=s, title=f"other benchmark's item {s}")
        for q in {q.pk: q for q in queues if q is not None}.values()
        for s in subjects
    )
    foreign = WorkItem.objects.count()

    stats = queue_page.seed(total=TOTAL, rng=random.Random(1))
    again = queue_page.seed(total=TOTAL, rng=random.Random(2))  # a second run replaces its own items

    assert (stats.items, stats.foreign_open) == (TOTAL, foreign)
    assert (again.items, again.foreign_open) == (TOTAL, foreign)
    assert WorkItem.objects.exclude(status=WorkItemStatus.RESOLVED).count() == foreign + TOTAL
    assert WorkItem.objects.filter(title__startswith="other benchmark's item").count() == foreign
