from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import cast

import pytest
from django.db import transaction
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.models import AuditEvent
from audit.services import audit_record
from audit.views import PAGE_SIZE
from ops.roles import Role
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def events() -> None:
    with transaction.atomic():
        for i in range(60):
            with acting_as(Actor.system("alice" if i % 2 else "bob")):
                audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", i % 3))
        with acting_as(Actor.system("carol")):
            audit_record(action=AuditAction.STAFF_ROLE_GRANTED, subject=("ops.user", 42), reason="new desk")


@pytest.fixture
def auditor(client: Client) -> Client:
    sign_in(client, staff(Role.AUDITOR))
    return client


def test_list_is_paginated_newest_first(auditor: Client, events: None) -> None:
    response = auditor.get("/audit/")
    page = response.context["page"]
    # 61 events plus the auditor's own login
    assert page.paginator.count == 62 and len(page.object_list) == PAGE_SIZE == 25
    assert page.object_list[0].action == AuditAction.STAFF_ROLE_GRANTED
    assert len(auditor.get("/audit/?page=3").context["page"].object_list) == 12


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("actor=system:alice", 30),
        ("action=staff.role_granted", 1),
        ("subject_type=ops.user&subject_id=42", 1),
        ("subject_type=ops.user&subject_id=1", 20),
        ("actor=system:bob&subject_id=0", 10),
    ],
)
def test_filters(auditor: Client, events: None, query: str, count: int) -> None:
    assert auditor.get(f"/audit/?{query}").context["page"].paginator.count == count


def test_date_range_filter(auditor: Client, events: None) -> None:
    today = timezone.localdate()
    assert auditor.get(f"/audit/?date_from={today}&date_to={today}").context["page"].paginator.count == 62
    yesterday = today - timedelta(days=1)
    assert auditor.get(f"/audit/?date_to={yesterday}").context["page"].paginator.count == 0


def test_bad_filter_says_which_field(auditor: Client) -> None:
    response = auditor.get("/audit/?date_from=2026-13-45")
    assert response.status_code == 400
    assert "date_from" in response.context["form"].errors
    response = auditor.get("/audit/?date_from=2026-05-02&date_to=2026-05-01")
    assert response.status_code == 400 and "end date is before" in response.content.decode()


def test_csv_export_of_the_filtered_set_is_itself_audited(auditor: Client, events: None) -> None:
    response = auditor.get("/audit/export.csv?actor=system:carol")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(cast(StreamingHttpResponse, response).getvalue().decode())))
    assert len(rows) == 1 and rows[0]["action"] == "staff.role_granted" and rows[0]["reason"] == "new desk"
    export = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert export.after == {"actor": "system:carol"} and export.actor_kind == "staff"


def test_subjects_are_named_and_linked_and_gone_ones_keep_their_id(auditor: Client, events: None) -> None:
    from tests.factories import client as make_client

    customer = make_client(first_name="Noah", last_name="Smith")  # its registration is audited
    html = auditor.get("/audit/").content.decode()
    link = f'<span class="kind">Client</span> <a href="/clients/{customer.pk}/">Noah Smith ({customer.reference})</a>'
    assert link in html
    assert '<span class="kind">User</span> #42' in html  # no such staff user: the id is all there is
    assert "accounts.client:" not in html and "ops.user:" not in html


def test_changes_show_each_field_before_and_after_and_fold_long_values(auditor: Client) -> None:
    digest = "3f" * 32
    with transaction.atomic(), acting_as(Actor.system("accounts.tasks.trading_account_provision_task")):
        audit_record(
            action=AuditAction.KYC_DOCUMENT_UPLOADED,
            subject=("ops.user", 7),
            before={"status": "pending", "close_only": False},
            after={"status": "accepted", "close_only": True, "sha256": digest, "factors": ["pep", "country"]},
        )
    html = auditor.get("/audit/?action=kyc.document_uploaded").content.decode()
    assert '<span class="field">status</span> <span class="old">pending</span> → accepted' in html
    assert '<span class="field">close only</span> <span class="old">False</span> → True' in html
    assert '<span class="field">factors</span> [&quot;pep&quot;, &quot;country&quot;]' in html
    folded = f'<summary><span class="short">{digest[:39]}…</span><span class="fold">fold</span></summary>'
    assert folded in html and f'<span class="full">{digest}</span>' in html
    # the job that acted, by its name; the full label on hover
    assert '<span title="system:accounts.tasks.trading_account_provision_task">trading account provision</span>' in html


def test_a_value_pointing_at_a_record_is_shown_by_its_name_and_page(auditor: Client) -> None:
    from tests.factories import client as make_client

    customer = make_client(first_name="Noah", last_name="Smith")
    with transaction.atomic():
        audit_record(
            action=AuditAction.STATEMENT_LINE_MATCHED,
            subject=("ops.user", 1),
            before={"matched_to": ""},
            after={"matched_to": f"accounts.client:{customer.pk}:return"},
        )
    html = auditor.get("/audit/?action=payments.statement_line_matched").content.decode()
    name = f"Noah Smith ({customer.reference}) (return)"
    assert f'<span class="kind">Client</span> <a href="/clients/{customer.pk}/">{name}</a>' in html
    assert "accounts.client:" not in html


def test_every_audit_action_has_a_label_of_its_own() -> None:
    unlabelled = [a.value for a in AuditAction if a.label in (a.value, a.name.replace("_", " ").title())]
    assert unlabelled == []
