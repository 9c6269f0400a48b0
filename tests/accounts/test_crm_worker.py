"""CRM sync through a real Celery worker: a push recorded with a status change reaches the CRM
after commit, across a refusal (the task retries); a change made in the CRM comes back by its
signed webhook over HTTP and is applied by the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import CrmInboundEvent, CrmInboundStatus, CrmLink, CrmPush, CrmPushStatus
from accounts.services.clients import client_transition
from ops.models import Interaction
from sim import crm as simcrm
from sim.crm import SimulatedCrm
from sim.models import SimCrmContact, SimCrmNotification
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def crm_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    """A real worker whose simulated CRM sends its notifications to this test's server."""
    from backoffice.celery import app

    app.control.purge()
    worker = Worker("crm", tmp_path / "worker.log", env={"SIMCRM_WEBHOOK_URL": f"{live_server.url}/webhooks/crm/"})
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


def _contact(reference: str, **wanted: Any) -> SimCrmContact | None:
    contact = SimCrmContact.objects.filter(external_id=reference).first()
    if contact is None or any(contact.fields.get(k) != v for k, v in wanted.items()):
        return None
    return contact


def test_good_pushes_reach_the_crm_after_commit_across_a_refusal(crm_worker: Worker) -> None:
    SimulatedCrm.inject_fault("upsert_contact", times=1)
    c = make_client()  # committed: the worker's first call is refused, its retry lands
    contact = wait_for(lambda: _contact(c.reference, status="registered"), timeout=60)
    assert contact is not None
    push = CrmPush.objects.get(client=c)
    assert (push.status, push.attempts, push.last_error) == (
        CrmPushStatus.SENT, 2, "simulated CRM: upsert_contact refused (injected fault)"
    )  # fmt: skip
    client_transition(client_id=c.pk, name="submit_for_review", actor=None)
    wait_for(lambda: _contact(c.reference, status="pending_review"), timeout=60)
    assert CrmLink.objects.get(client=c).crm_id == contact.crm_id


def test_good_a_crm_change_comes_back_by_signed_webhook_and_is_applied(crm_worker: Worker) -> None:
    c = make_client()
    contact = wait_for(lambda: _contact(c.reference, status="registered"), timeout=60)
    assert contact is not None
    note = simcrm.contact_change(crm_id=contact.crm_id, sales_stage="qualified", note="Called back", author="sally")
    assert note is not None
    # the CRM's worker task posts it over HTTP; the back office stores it, then a task applies it
    wait_for(lambda: CrmLink.objects.get(client=c).sales_stage == "qualified", timeout=60)
    assert SimCrmNotification.objects.get(pk=note.pk).last_status == 200
    assert CrmInboundEvent.objects.get(event_id=note.event_id).status == CrmInboundStatus.PROCESSED
    assert Interaction.objects.get(channel="crm", subject_id=str(c.pk)).actor_label == "CRM: sally"
