"""The commission run pages: the list with its start form, a run's page, its progress JSON, and the
deals that earned nothing -- used the way finance uses them."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client as HttpClient

from ib import errors
from ib.models import CommissionRun, RunStatus
from ib.services.runs import commission_run_execute
from ops.roles import Role
from tests.factories import approved_client, staff
from tests.ib.factories import deal, follow, plan, tree
from tests.ib.test_commission_engine import DAY, at, attribute
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def test_good_finance_starts_a_run_and_reads_its_page(client: HttpClient) -> None:
    (top,) = tree("TOP")
    follow(top, plan(valid_from=date(2025, 1, 1)), valid_from=date(2025, 1, 1))
    person, stray = approved_client(currency="EUR"), approved_client(currency="EUR")
    attribute(person, top)
    deal(person, lots="2.00", closed_at=at(10))
    lost = deal(stray, closed_at=at(11))
    sign_in(client, staff(Role.FINANCE, username="fin-1"))
    page = client.get("/partners/runs/")
    assert page.status_code == 200
    assert 'src="/static/js/run_progress.js"' in page.content.decode()
    response = client.post("/partners/runs/", {"period_start": DAY.isoformat(), "period_end": DAY.isoformat()})
    run = CommissionRun.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/partners/runs/{run.pk}/")
    assert (run.status, run.started_by) == (RunStatus.QUEUED, "fin-1")
    progress = client.get(f"/partners/runs/{run.pk}/progress/").json()
    assert progress == {"status": "queued", "status_label": "Queued", "done": 0, "total": 0, "lines": 0}
    commission_run_execute(run_id=run.pk)  # what the worker does with the queued task
    progress = client.get(f"/partners/runs/{run.pk}/progress/").json()
    assert progress == {"status": "done", "status_label": "Done", "done": 2, "total": 2, "lines": 1}
    detail = client.get(f"/partners/runs/{run.pk}/").content.decode()
    assert "Partner TOP" in detail and "16.00" in detail and "Deal commission" in detail
    unearned = client.get("/partners/unearned/", {"start": DAY.isoformat(), "end": DAY.isoformat()})
    body = unearned.content.decode()
    assert unearned.status_code == 200
    assert lost.deal_id in body and 'data-reason="no_attribution"' in body


def test_bad_run_form_names_the_field_and_stores_nothing(client: HttpClient) -> None:
    sign_in(client, staff(Role.FINANCE))
    response = client.post("/partners/runs/", {"period_start": "2026-10-14", "period_end": "2026-10-01"})
    assert response.status_code == 400
    assert errors.RUN_PERIOD_BACKWARDS in response.content.decode()
    assert CommissionRun.objects.count() == 0


def test_bad_support_sees_runs_but_cannot_start_one(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    page = client.get("/partners/runs/")
    assert page.status_code == 200 and 'data-testid="run-form"' not in page.content.decode()
    assert client.post("/partners/runs/", {"period_start": "2026-10-14", "period_end": "2026-10-14"}).status_code == 403
    assert CommissionRun.objects.count() == 0


def test_good_a_statement_line_links_to_its_deal_and_a_run_page_refreshes_when_it_ends(client: HttpClient) -> None:
    from tests.ib.lines import line

    master, sub = tree("MASTER", "SUBIB")
    earned = line(sub, approved_client(provision=False), "4.00", version=plan("STDL"), tree=[sub.pk, master.pk])
    assert earned.deal is not None
    sign_in(client, staff(Role.FINANCE, username="fin-2"))
    page = client.get(earned.get_absolute_url()).content.decode()
    assert f'<a class="mono" href="/partners/deals/{earned.deal.deal_id}/">{earned.deal.deal_id}</a>' in page
    assert client.get(f"/partners/deals/{earned.deal.deal_id}/").status_code == 200
    run = CommissionRun.objects.create(period_start=DAY, period_end=DAY, started_by="fin-2")
    assert 'data-status="queued" data-reload-when-ended>' in client.get(f"/partners/runs/{run.pk}/").content.decode()
