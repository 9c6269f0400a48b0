"""The client-area API through HTTP with a real client-area key: each operation's good path, bad
input (one exact status, nothing changed), the other callers' exact statuses, idempotent replay."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient

from accounts.models import Client, ClientStatus
from audit.models import AuditEvent
from backoffice.api import UNKNOWN_FIELD
from ib.models import Attribution
from kyc.models import Document
from kyc.services.documents import document_review
from ops.models import WorkItem
from ops.roles import Role
from payments.models import Deposit, DepositStatus, JournalEntry, Withdrawal, WithdrawalStatus
from payments.services.ledger import balance_of, wallet_for
from payments.services.transfers import platform_balance_push
from tests.api.keys import approved_key, client_area_key
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import tree
from tests.kyc.files import pdf
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

BASE = "/api/v1/client-area/clients/"
REGISTRATION = {
    "kind": "individual", "first_name": "Rosa", "last_name": "Parks", "date_of_birth": "1985-02-04",
    "country": "GB", "email": "rosa@example.test", "phone": "+44 20 7946 0111", "account_type": "standard",
    "base_currency": "EUR",
}  # fmt: skip
BACK = "https://portal.example/deposit/done"


class Portal:
    """The broker's portal: calls with its key, as a server would."""

    def __init__(self, token: str) -> None:
        self.http = HttpClient()
        self.auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def get(self, path: str, **extra: Any) -> Any:
        return self.http.get(path, **self.auth, **extra)

    def post(self, path: str, body: dict[str, Any], *, key: str | None = None, **extra: Any) -> Any:
        headers = self.auth | ({"HTTP_IDEMPOTENCY_KEY": key} if key else {}) | extra
        return self.http.post(path, body, content_type="application/json", **headers)

    def upload(self, path: str, data: dict[str, Any], **extra: Any) -> Any:
        return self.http.post(path, data, **self.auth, **extra)  # multipart


@pytest.fixture
def portal() -> Portal:
    return Portal(client_area_key())


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:600]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def funded(amount: str = "1000.00") -> tuple[Client, Deposit]:
    c = approved_client(provision=True)
    return c, card_deposit(c, amount)


# --- register and read -------------------------------------------------------------------------


def test_good_register_then_read_status_and_what_it_allows(portal: Portal) -> None:
    created = portal.post(BASE, REGISTRATION)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["status_display"], body["display_name"]) == ("registered", "Registered", "Rosa Parks")
    allowed = {c["code"]: c["allowed"] for c in body["capabilities"]}
    assert allowed["upload_documents"] is True and allowed["deposit"] is False and allowed["withdraw"] is False
    assert body["kyc_status"] == "documents_missing" and body["wallets"] == []
    read = portal.get(f"{BASE}{body['id']}/")
    assert read.status_code == 200 and read.json()["reference"] == body["reference"]
    # audited to the key: the registration's actor names the client area's key
    event = AuditEvent.objects.get(action="client.registered", subject_id=str(body["id"]))
    assert event.actor_label.startswith("client-area:portal (API key ")


def test_good_referral_code_attributes_the_client_to_the_partner(portal: Portal) -> None:
    tree("BETA")
    created = portal.post(BASE, REGISTRATION | {"referral_code": "beta", "campaign": "spring"})
    assert created.status_code == 201, created.json()
    attribution = Attribution.objects.get(client_id=created.json()["id"])
    assert (attribution.partner.code, attribution.campaign) == ("BETA", "spring")


def test_good_approved_client_shows_trading_account_and_wallet_in_minor_units(portal: Portal) -> None:
    c, _ = funded("250.50")
    body = portal.get(f"{BASE}{c.pk}/").json()
    assert body["status"] == "approved" and all(cap["allowed"] for cap in body["capabilities"])
    assert body["wallets"] == [
        {
            "currency": "EUR",
            "balance": "250.50",
            "balance_minor": 25050,
            "available": "250.50",
            "available_minor": 25050,
        }
    ]
    (account,) = body["trading_accounts"]
    assert account["login"] and account["currency"] == "EUR" and account["balance_minor"] == 0


def test_bad_unknown_field_is_a_400_naming_it_and_registers_nobody(portal: Portal) -> None:
    body = problem(portal.post(BASE, REGISTRATION | {"account_manager": "admin", "segmnt": "vip"}), 400)
    assert body["errors"] == {"account_manager": [UNKNOWN_FIELD], "segmnt": [UNKNOWN_FIELD]}
    assert Client.objects.count() == 0


def test_bad_registration_missing_a_name_is_a_400_and_registers_nobody(portal: Portal) -> None:
    problem(portal.post(BASE, {k: v for k, v in REGISTRATION.items() if k != "last_name"}), 400)
    assert Client.objects.count() == 0


def test_bad_unknown_referral_code_is_a_400_naming_it(portal: Portal) -> None:
    body = problem(portal.post(BASE, REGISTRATION | {"referral_code": "NOPE"}), 400)
    assert "referral_code" in body["errors"]
    assert Client.objects.count() == 0


@pytest.mark.parametrize("suffix", ["", "documents/", "checklist/", "deposits/", "transactions/", "notifications/"])
def test_bad_unknown_client_is_a_404(portal: Portal, suffix: str) -> None:
    problem(portal.get(f"{BASE}999999/{suffix}"), 404)
    problem(portal.get(f"{BASE}abc/{suffix}"), 404)


# --- who may call -----------------------------------------------------------------------------


def test_bad_no_key_is_a_401() -> None:
    c = approved_client(provision=False)
    response = HttpClient().get(f"{BASE}{c.pk}/")
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bad_staff_key_is_a_403_naming_the_scope() -> None:
    c = approved_client(provision=False)
    token = approved_key(staff(Role.SUPPORT), ["clients:read", "clients:write"], kind="staff")
    body = problem(Portal(token).get(f"{BASE}{c.pk}/"), 403)
    assert body["required_scope"] == "client_area"
    problem(Portal(token).post(BASE, REGISTRATION), 403)
    assert Client.objects.count() == 1


def test_bad_partner_key_is_a_403() -> None:
    c = approved_client(provision=False)
    (partner,) = tree("KEYP")
    token = approved_key(partner, ["partner:read"], kind="partner")
    assert problem(Portal(token).get(f"{BASE}{c.pk}/"), 403)["required_scope"] == "client_area"


def test_bad_staff_session_is_a_403() -> None:
    c = approved_client(provision=False)
    http = sign_in(HttpClient(), staff(Role.SUPPORT))
    problem(http.get(f"{BASE}{c.pk}/"), 403)


# --- documents and the checklist -----------------------------------------------------------------


def _registered(portal: Portal) -> int:
    response = portal.post(BASE, REGISTRATION)
    assert response.status_code == 201
    return int(response.json()["id"])


def test_good_upload_every_document_then_the_client_is_in_review(portal: Portal) -> None:
    pk = _registered(portal)
    for kind in ("proof_of_identity", "proof_of_address", "suitability_questionnaire"):
        upload = SimpleUploadedFile(f"{kind}.pdf", pdf(), content_type="application/pdf")
        response = portal.upload(f"{BASE}{pk}/documents/", {"kind": kind, "file": upload})
        assert response.status_code == 201, response.json()
        assert response.json()["status"] == "pending"
    listed = portal.get(f"{BASE}{pk}/documents/").json()
    assert [d["kind"] for d in listed["results"]] == [
        "suitability_questionnaire", "proof_of_address", "proof_of_identity",
    ]  # fmt: skip
    checklist = portal.get(f"{BASE}{pk}/checklist/").json()
    assert [i["state"] for i in checklist["items"]] == ["pending", "pending", "pending"]
    assert checklist["status"] == "pending_review" and checklist["kyc_status"] == "in_review"
    assert Client.objects.get(pk=pk).status == ClientStatus.PENDING_REVIEW


def test_good_rejection_shows_the_reason_as_the_client_is_told_not_the_internal_note(portal: Portal) -> None:
    pk = _registered(portal)
    upload = SimpleUploadedFile("id.pdf", pdf(), content_type="application/pdf")
    doc_id = portal.upload(f"{BASE}{pk}/documents/", {"kind": "proof_of_identity", "file": upload}).json()["id"]
    document_review(
        document_id=doc_id, reviewer=staff(Role.COMPLIANCE), accept=False, reason_code="name_mismatch",
        note="INTERNAL: surname differs from the CRM record",
    )  # fmt: skip
    (row,) = portal.get(f"{BASE}{pk}/documents/").json()["results"]
    assert (row["status"], row["rejection_reason"], row["rejection_note"]) == ("rejected", "Name does not match", "")
    item = portal.get(f"{BASE}{pk}/checklist/").json()["items"][0]
    assert (item["state"], item["rejection_reason"]) == ("rejected", "Name does not match")
    notes = portal.get(f"{BASE}{pk}/notifications/").json()["results"]
    assert [n["title"] for n in notes] == ["We need a new Proof of identity"]
    assert notes[0]["channel_display"] == "E-mail" and notes[0]["template_display"] == "Document rejected"
    assert "INTERNAL" not in str(notes)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "passport_selfie"}, "kind"),  # no such document type
        ({"kind": "certificate_of_incorporation"}, "kind"),  # not one an individual provides
        ({"file": SimpleUploadedFile("x.pdf", b"<html><script>alert(1)</script>", "application/pdf")}, "file"),
        ({"file": SimpleUploadedFile("x.pdf", b"", "application/pdf")}, "file"),
        ({"expiry_date": "2001-01-01"}, "expiry_date"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_upload_is_a_400_naming_the_field_and_stores_nothing(
    portal: Portal, data: dict[str, Any], field: str
) -> None:
    pk = _registered(portal)
    good = {"kind": "proof_of_identity", "file": SimpleUploadedFile("id.pdf", pdf(), content_type="application/pdf")}
    body = problem(portal.upload(f"{BASE}{pk}/documents/", good | data), 400)
    assert field in body["errors"]
    assert Document.objects.count() == 0


def test_bad_oversize_upload_is_a_400_naming_the_file(portal: Portal, settings: Any) -> None:
    settings.KYC_MAX_UPLOAD_BYTES = 1024
    pk = _registered(portal)
    big = SimpleUploadedFile("id.pdf", pdf() + b"%" * 2000, content_type="application/pdf")
    assert (
        "file"
        in problem(portal.upload(f"{BASE}{pk}/documents/", {"kind": "proof_of_identity", "file": big}), 400)["errors"]
    )
    assert Document.objects.count() == 0


def test_bad_closed_client_may_not_upload_409(portal: Portal) -> None:
    from accounts.services.clients import client_transition

    pk = _registered(portal)
    client_transition(client_id=pk, name="close", actor=staff(Role.COMPLIANCE), reason="asked to close")
    upload = SimpleUploadedFile("id.pdf", pdf(), content_type="application/pdf")
    problem(portal.upload(f"{BASE}{pk}/documents/", {"kind": "proof_of_identity", "file": upload}), 409)
    assert Document.objects.count() == 0


# --- deposits ---------------------------------------------------------------------------------


def test_good_card_deposit_returns_the_psp_checkout(portal: Portal, settings: Any) -> None:
    c = approved_client(provision=False)
    response = portal.post(
        f"{BASE}{c.pk}/deposits/", {"channel": "card", "amount": "250.00", "currency": "EUR", "return_url": BACK}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["checkout_url"].startswith(f"{settings.SIM_PSP_PUBLIC_URL}/sim/simpay")
    assert (body["amount"], body["amount_minor"], body["status"], body["bank_details"]) == (
        "250.00", 25000, "initiated", None,
    )  # fmt: skip
    assert Deposit.objects.get().psp_intent_id
    listed = portal.get(f"{BASE}{c.pk}/deposits/").json()["results"]
    assert [d["reference"] for d in listed] == [body["reference"]]


def test_good_bank_deposit_returns_the_reference_and_bank_details(portal: Portal) -> None:
    c = approved_client(provision=False)
    response = portal.post(f"{BASE}{c.pk}/deposits/", {"channel": "bank", "amount": "500", "currency": "EUR"})
    assert response.status_code == 201, response.json()
    bank = response.json()["bank_details"]
    assert bank["reference"] == response.json()["reference"] and bank["iban"] and bank["beneficiary"]


def test_good_replay_with_the_same_idempotency_key_is_the_same_deposit(portal: Portal) -> None:
    c = approved_client(provision=False)
    body = {"channel": "card", "amount": "99.00", "currency": "EUR", "return_url": BACK}
    first = portal.post(f"{BASE}{c.pk}/deposits/", body, key="dep-1")
    again = portal.post(f"{BASE}{c.pk}/deposits/", body, key="dep-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Deposit.objects.count() == 1
    other = problem(portal.post(f"{BASE}{c.pk}/deposits/", body | {"amount": "98.00"}, key="dep-1"), 422)
    assert other["mismatch"] == ["amount"]
    assert Deposit.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": "10.001"}, "amount", 400),  # too many decimals for EUR
        ({"amount": 10}, "amount", 400),  # a JSON number, not a decimal string
        ({"amount": "-5"}, "amount", 400),
        ({"currency": "XXX"}, "currency", 400),
        ({"channel": "crypto"}, "channel", 400),
        ({"return_url": ""}, "return_url", 400),
        ({"trading_account": "nope"}, "trading_account", 400),
        ({"tip": "1"}, "tip", 400),
    ],
)
def test_bad_deposit_input_names_the_field_and_starts_nothing(
    portal: Portal, change: dict[str, Any], field: str, status: int
) -> None:
    c = approved_client(provision=False)
    body = {"channel": "card", "amount": "250.00", "currency": "EUR", "return_url": BACK} | change
    assert field in problem(portal.post(f"{BASE}{c.pk}/deposits/", body), status)["errors"]
    assert Deposit.objects.count() == 0


def test_bad_registered_client_may_not_deposit_409(portal: Portal) -> None:
    pk = _registered(portal)
    body = {"channel": "bank", "amount": "100.00", "currency": "EUR"}
    assert "client" in problem(portal.post(f"{BASE}{pk}/deposits/", body), 409)["errors"]
    assert Deposit.objects.count() == 0


# --- transfers, withdrawals, transactions ------------------------------------------------------


def test_good_transfer_to_the_trading_account_and_back(portal: Portal) -> None:
    c, _ = funded("1000.00")
    login = c.trading_accounts.get().login
    path = f"{BASE}{c.pk}/transfers/"
    moved = portal.post(path, {"direction": "wallet_to_trading", "trading_account": login, "amount": "300.00"})
    assert moved.status_code == 201, moved.json()
    platform_balance_push(entry_id=moved.json()["id"])  # the worker's task: the platform follows the ledger
    assert (moved.json()["amount_minor"], moved.json()["currency"]) == (30000, "EUR")
    back = portal.post(path, {"direction": "trading_to_wallet", "trading_account": login, "amount": "100.00"})
    assert back.status_code == 201, back.json()
    body = portal.get(f"{BASE}{c.pk}/").json()
    assert body["wallets"][0]["balance"] == "800.00" and body["trading_accounts"][0]["balance"] == "200.00"
    lines = portal.get(f"{BASE}{c.pk}/transactions/").json()["results"]
    assert [(t["description"], t["account"], t["amount"]) for t in lines] == [
        ("Internal transfer", "wallet", "100.00"),
        ("Internal transfer", login, "-100.00"),
        ("Internal transfer", login, "300.00"),
        ("Internal transfer", "wallet", "-300.00"),
        ("Deposit", "wallet", "1000.00"),
    ]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": "1.001"}, "amount", 400),
        ({"amount": "5000.00"}, "amount", 400),  # more than the wallet holds (the ledger refuses)
        ({"trading_account": "000"}, "trading_account", 400),
        ({"direction": "sideways"}, "direction", 400),
        ({"memo": "x"}, "memo", 400),
    ],
)
def test_bad_transfer_names_the_field_and_moves_nothing(
    portal: Portal, change: dict[str, Any], field: str, status: int
) -> None:
    c, _ = funded("1000.00")
    login = c.trading_accounts.get().login
    entries = JournalEntry.objects.count()
    body = {"direction": "wallet_to_trading", "trading_account": login, "amount": "10.00"} | change
    assert field in problem(portal.post(f"{BASE}{c.pk}/transfers/", body), status)["errors"]
    assert JournalEntry.objects.count() == entries
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("1000.00")


def test_good_withdrawal_holds_the_funds_and_goes_to_the_approval_queue(portal: Portal) -> None:
    c, deposit = funded("1000.00")
    body = {
        "amount": "900.00", "currency": "EUR", "method": "card", "destination": deposit.payer_account,
        "destination_name": c.display_name,
    }  # fmt: skip
    response = portal.post(f"{BASE}{c.pk}/withdrawals/", body, key="w-1")
    assert response.status_code == 201, response.json()
    withdrawal = Withdrawal.objects.get()
    # the first withdrawal, right after a deposit of about the same: compliance looks at it too
    assert withdrawal.status == WithdrawalStatus.UNDER_REVIEW and withdrawal.requested_by is None
    assert WorkItem.objects.filter(queue__code="withdrawal_approval", subject_id=str(withdrawal.pk)).exists()
    assert balance_of(wallet_for(client=c, currency="EUR")).held == Decimal("900.00")
    assert response.json()["status"] == "under_review" and response.json()["paid_from"] == "wallet"
    listed = portal.get(f"{BASE}{c.pk}/withdrawals/").json()["results"]
    assert [w["reference"] for w in listed] == [withdrawal.reference]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": "100.001"}, "amount", 400),
        ({"amount": "5000.00"}, "amount", 422),  # more than available
        ({"method": "crypto"}, "method", 400),
        ({"currency": "USD"}, "currency", 422),  # no USD wallet
        ({"trading_account": "000"}, "trading_account", 400),
        ({"iban": "x"}, "iban", 400),
    ],
)
def test_bad_withdrawal_names_the_field_and_holds_nothing(
    portal: Portal, change: dict[str, Any], field: str, status: int
) -> None:
    c, deposit = funded("1000.00")
    body = {
        "amount": "100.00", "currency": "EUR", "method": "card", "destination": deposit.payer_account,
        "destination_name": c.display_name,
    } | change  # fmt: skip
    assert field in problem(portal.post(f"{BASE}{c.pk}/withdrawals/", body), status)["errors"]
    assert Withdrawal.objects.count() == 0
    assert balance_of(wallet_for(client=c, currency="EUR")).held == Decimal("0")


def test_bad_registered_client_may_not_withdraw_or_transfer(portal: Portal) -> None:
    pk = _registered(portal)
    body = {"amount": "1.00", "currency": "EUR", "method": "card", "destination": "x", "destination_name": "R P"}
    problem(portal.post(f"{BASE}{pk}/withdrawals/", body), 422)  # no wallet: nothing to withdraw
    transfer = {"direction": "wallet_to_trading", "trading_account": "1", "amount": "1.00"}
    problem(portal.post(f"{BASE}{pk}/transfers/", transfer), 400)  # no trading account yet
    assert Withdrawal.objects.count() == 0


def test_good_lists_are_cursor_paginated(portal: Portal) -> None:
    c, _ = funded("100.00")
    for n in range(3):
        card_deposit(c, f"{n + 1}.00")
    first = portal.get(f"{BASE}{c.pk}/deposits/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = portal.get(first["next"]).json()
    seen = [d["reference"] for d in first["results"] + second["results"]]
    assert len(seen) == len(set(seen)) == 4
    assert all(d["status"] == DepositStatus.CREDITED for d in first["results"] + second["results"])
    problem(portal.get(f"{BASE}{c.pk}/deposits/?cursor=nonsense"), 400)


def test_bad_restricted_client_may_neither_withdraw_nor_transfer_nor_deposit(portal: Portal) -> None:
    """The capabilities of the client's status, as for staff: restricted may only close positions."""
    from accounts.services.clients import client_transition

    c, deposit = funded("1000.00")
    client_transition(client_id=c.pk, name="restrict", actor=staff(Role.COMPLIANCE), reason="expired passport")
    login = c.trading_accounts.get().login
    body = {
        "amount": "100.00", "currency": "EUR", "method": "card", "destination": deposit.payer_account,
        "destination_name": c.display_name,
    }  # fmt: skip
    refused = problem(portal.post(f"{BASE}{c.pk}/withdrawals/", body), 422)
    assert "status: client is restricted" in refused["errors"]["client"][0]
    transfer = {"direction": "wallet_to_trading", "trading_account": login, "amount": "10.00"}
    assert "client" in problem(portal.post(f"{BASE}{c.pk}/transfers/", transfer), 409)["errors"]
    card = {"channel": "card", "amount": "10.00", "currency": "EUR", "return_url": BACK}
    assert "client" in problem(portal.post(f"{BASE}{c.pk}/deposits/", card), 409)["errors"]
    assert Withdrawal.objects.count() == 0 and Deposit.objects.count() == 1
    assert balance_of(wallet_for(client=c, currency="EUR")).held == Decimal("0")
    allowed = {x["code"]: x["allowed"] for x in portal.get(f"{BASE}{c.pk}/").json()["capabilities"]}
    assert (allowed["close_positions"], allowed["withdraw"], allowed["transfer"]) == (True, False, False)


def test_good_a_longer_list_costs_no_more_queries(portal: Portal) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c, _ = funded("10.00")

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert portal.get(f"{BASE}{c.pk}/{path}").status_code == 200
        return len(captured)

    paths = ["", "deposits/", "transactions/", "withdrawals/", "documents/", "notifications/", "checklist/"]
    queries("")  # the key's first use of the minute also stamps its last use
    few = {path: queries(path) for path in paths}
    for n in range(4):
        card_deposit(c, f"{n + 1}.00")
    assert {path: queries(path) for path in paths} == few
