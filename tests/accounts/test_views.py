from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from accounts.models import Client, ClientStatus, RelatedParty
from accounts.services.clients import client_transition
from ops.roles import Role
from tests.factories import approvable_client as make_client
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def test_list_search_and_filters(client: HttpClient) -> None:
    a = make_client(last_name="Babbage")
    make_client(kind="corporate", account_type="corporate")
    sign_in(client, staff(Role.SUPPORT))
    assert [c.pk for c in client.get("/clients/?q=babbage").context["page"]] == [a.pk]
    assert [c.pk for c in client.get(f"/clients/?q={a.reference}").context["page"]] == [a.pk]
    assert [c.pk for c in client.get(f"/clients/?q={a.email}").context["page"]] == [a.pk]
    noah = make_client(first_name="Noah", last_name="Smith")
    make_client(first_name="Noah", last_name="Jones")
    assert [c.pk for c in client.get("/clients/?q=Noah Smith").context["page"]] == [noah.pk]
    assert [c.pk for c in client.get("/clients/?q=smith noah").context["page"]] == [noah.pk]
    assert client.get("/clients/?q=Noah").context["page"].paginator.count == 2
    corp = Client.objects.get(kind="corporate")
    assert [c.pk for c in client.get(f"/clients/?q={corp.legal_name}").context["page"]] == [corp.pk]
    assert client.get("/clients/?kind=corporate").context["page"].paginator.count == 1
    assert (
        client.get("/clients/?account_type=corporate&country=GB&status=registered").context["page"].paginator.count == 1
    )
    assert client.get("/clients/?status=approved").context["page"].paginator.count == 0
    assert client.get("/clients/?status=bogus").status_code == 400


def test_register_form_names_the_bad_field_and_stores_nothing(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    form = {"kind": "individual", "first_name": "Ada", "last_name": "L", "date_of_birth": "1985-12-10", "country": "GB",
            "email": "ada@example.test", "phone": "12", "account_type": 1, "base_currency": "USD"}  # fmt: skip
    from accounts.models import AccountType

    form["account_type"] = AccountType.objects.get(code="standard").pk
    response = client.post("/clients/new/", form)
    assert response.status_code == 400 and "phone" in response.context["form"].errors
    assert not Client.objects.exists()
    response = client.post("/clients/new/", form | {"phone": "+44 7911 123456"})
    assert response.status_code == 302 and Client.objects.get().phone == "+447911123456"


def test_client_360_shows_the_actions_of_the_role(client: HttpClient) -> None:
    c = make_client()
    sign_in(client, staff(Role.SUPPORT))
    html = client.get(f"/clients/{c.pk}/").content.decode()
    assert ">Submit for review</button>" in html and ">Approve</button>" not in html
    client.post(f"/clients/{c.pk}/transition/submit_for_review/")
    sign_in(client, staff(Role.COMPLIANCE))
    html = client.get(f"/clients/{c.pk}/").content.decode()
    assert ">Approve</button>" in html and ">Ask for more documents</button>" in html
    sign_in(client, staff(Role.RISK))  # reads, acts on nothing
    assert client.post(f"/clients/{c.pk}/transition/approve/").status_code == 403
    assert Client.objects.get(pk=c.pk).status == ClientStatus.PENDING_REVIEW


def test_bad_restrict_without_reason_is_refused_with_a_message(client: HttpClient) -> None:
    c = make_client()
    officer = staff(Role.COMPLIANCE)
    for name in ("submit_for_review", "approve"):
        client_transition(client_id=c.pk, name=name, actor=officer)
    sign_in(client, officer)
    response = client.post(f"/clients/{c.pk}/transition/restrict/", {"reason": ""})
    assert response.status_code == 409 and "A reason is required to restrict" in response.content.decode()
    assert Client.objects.get(pk=c.pk).status == ClientStatus.APPROVED
    client.post(f"/clients/{c.pk}/transition/restrict/", {"reason": "passport expired"})
    assert Client.objects.get(pk=c.pk).status == ClientStatus.RESTRICTED
    response = client.post(f"/clients/{c.pk}/unfreeze/", {"reason": "new passport received"})
    assert response.status_code == 302 and response["Location"].startswith("/approvals/")


def test_party_form_errors_and_success(client: HttpClient) -> None:
    corp = make_client(kind="corporate", account_type="corporate")
    sign_in(client, staff(Role.SUPPORT))
    bad = client.post(f"/clients/{corp.pk}/parties/", {"role": "beneficial_owner", "name": "", "ownership_pct": "120"})
    assert bad.status_code == 400 and {"name", "ownership_pct"} <= set(bad.context["party_form"].errors)
    client.post(
        f"/clients/{corp.pk}/parties/", {"role": "beneficial_owner", "name": "Olu Owner", "ownership_pct": "60"}
    )
    assert RelatedParty.objects.get().name == "Olu Owner"
    assert "Olu Owner" in client.get(f"/clients/{corp.pk}/").content.decode()


def test_admin_configures_an_account_type_with_an_audited_reason(client: HttpClient) -> None:
    from accounts.models import AccountType
    from audit.models import AuditEvent

    sign_in(client, staff(Role.ADMIN))
    pro = AccountType.objects.get(code="pro")
    form = {"code": "pro", "name": "Pro", "currencies": "USD,EUR,GBP,JPY", "default_leverage": 200, "max_leverage": 400,
            "platform_group": "real\\pro", "min_deposit": "1000.00", "is_active": "on"}  # fmt: skip
    assert (
        client.post(f"/admin/accounts/accounttype/{pro.pk}/change/", form).status_code == 200
    )  # no reason: form error
    assert AccountType.objects.get(pk=pro.pk).max_leverage == 500
    client.post(f"/admin/accounts/accounttype/{pro.pk}/change/", form | {"change_reason": "regulator caps leverage"})
    pro.refresh_from_db()
    assert pro.max_leverage == 400 and pro.currencies == ["USD", "EUR", "GBP", "JPY"]
    event = AuditEvent.objects.get(action="account_type.configured")
    assert event.after["max_leverage"] == "400" and event.reason == "regulator caps leverage"
    sign_in(client, staff(Role.SUPPORT))
    assert client.get(f"/admin/accounts/accounttype/{pro.pk}/change/").status_code == 302  # no admin site for support


def test_admin_index_links_account_types_and_their_app_page(client: HttpClient) -> None:
    sign_in(client, staff(Role.ADMIN))
    index = client.get("/admin/").content.decode()
    assert "Client accounts" in index and 'href="/admin/accounts/accounttype/"' in index
    app_page = client.get("/admin/accounts/")  # the breadcrumb of the account type pages
    assert app_page.status_code == 200 and 'href="/admin/accounts/accounttype/"' in app_page.content.decode()


def test_asking_for_more_documents_closes_the_kyc_review_item_and_stops_its_sla(client: HttpClient) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from ops.models import WorkItem, WorkItemStatus
    from ops.services.work_items import work_item_open, work_items_escalate_overdue

    c = make_client()
    officer = staff(Role.COMPLIANCE)
    client_transition(client_id=c.pk, name="submit_for_review", actor=officer)
    item = work_item_open(queue="kyc_review", subject=c, title=f"KYC review: {c.display_name}")
    sign_in(client, officer)
    response = client.post(f"/clients/{c.pk}/transition/request_documents/", {"reason": "proof of address too old"})
    assert response.status_code == 302
    assert Client.objects.get(pk=c.pk).status == ClientStatus.PENDING_DOCUMENTS
    item.refresh_from_db()
    assert item.status == WorkItemStatus.RESOLVED and item.resolution_code == "rejected"
    assert item.resolution_note == "Asked the client for more documents: proof of address too old"
    # a day later nothing escalates: the clock of a closed item does not run
    assert work_items_escalate_overdue(now=timezone.now() + timedelta(days=2)) == 0
    assert WorkItem.objects.get(pk=item.pk).escalation_level == 0


def test_bad_a_default_leverage_above_the_maximum_changes_nothing() -> None:
    from django.core.exceptions import ValidationError

    from accounts.models import AccountType
    from accounts.services.account_types import account_type_configure
    from audit.models import AuditEvent

    pro = AccountType.objects.get(code="pro")
    with pytest.raises(ValidationError, match="cannot be above the maximum"):
        account_type_configure(
            account_type_id=pro.pk, changes={"default_leverage": pro.max_leverage + 1}, reason="typo"
        )
    assert AccountType.objects.get(pk=pro.pk).default_leverage == pro.default_leverage
    assert not AuditEvent.objects.filter(action="account_type.configured").exists()
