"""Starting deposits: a card deposit opens a payment intent at the PSP routing picks and returns its
checkout URL; a bank deposit gives the bank details and a reference the statement matcher finds.
Bad input is refused naming the field, with nothing stored; routing changes need a second person."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient

from accounts.capabilities import NOT_ALLOWED
from audit.models import AuditEvent
from ops.errors import OpsError
from ops.models import ApprovalStatus
from ops.models import Decision as Choice
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments import errors
from payments.errors import PaymentError
from payments.models import Deposit, DepositStatus, InboundEvent, RoutingRule, WebhookStatus
from payments.services.bank import statement_import, statement_match
from payments.services.deposit_start import deposit_start_bank, deposit_start_card
from payments.services.ledger import balance_of, wallet_for
from payments.services.routing import psp_route, routing_change_request
from payments.services.webhooks import inbound_event_process, inbound_event_store
from sim import simpay
from sim.models import SimPspFault, SimPspPayment
from tests.factories import approved_client, staff
from tests.factories import client as registered_client
from tests.payments.test_bank import _mt940
from tests.personas import sign_in

pytestmark = pytest.mark.django_db
BACK = "https://broker.example/deposit/done"


def start(c: Any, amount: object = "100.00", currency: str = "EUR", key: str = "k-1", **kwargs: Any) -> Any:
    return deposit_start_card(
        client=c, amount=amount, currency=currency, return_url=BACK, idempotency_key=key, **kwargs
    )


def refused(call: Any) -> PaymentError:
    """The refusal, after checking that nothing was stored (no deposit, no intent at the PSP)."""
    deposits, intents = Deposit.objects.count(), SimPspPayment.objects.count()
    with pytest.raises(PaymentError) as caught:
        call()
    assert (Deposit.objects.count(), SimPspPayment.objects.count()) == (deposits, intents)
    return caught.value


def rule(priority: int, provider: str = "simpay2", **fields: Any) -> RoutingRule:
    return RoutingRule.objects.create(priority=priority, provider=provider, **fields)


# --- card: the good path ---------------------------------------------------------------------------


def test_good_card_start_opens_an_intent_at_the_default_psp_and_returns_its_checkout(settings: Any) -> None:
    c = approved_client(provision=False)
    deposit, url = start(c)
    intent = SimPspPayment.objects.get(order_reference=deposit.reference)
    assert deposit.status == DepositStatus.INITIATED
    assert deposit.provider == "simpay"
    assert deposit.psp_intent_id == intent.payment_id
    assert url == f"{settings.SIM_PSP_PUBLIC_URL}/sim/simpay/checkout/{intent.payment_id}/"
    assert (intent.amount, intent.currency, intent.return_url, intent.status) == (
        Decimal("100.00"),
        "EUR",
        BACK,
        "pending",
    )
    opened = AuditEvent.objects.get(action="payments.deposit_checkout_opened", subject_id=str(deposit.pk))
    assert opened.after["provider"] == "simpay"


def test_good_same_key_returns_the_same_deposit_and_checkout() -> None:
    c = approved_client(provision=False)
    first, url = start(c, key="once")
    again, url_again = start(c, key="once")
    assert (again.pk, url_again) == (first.pk, url)
    assert Deposit.objects.filter(client=c).count() == 1
    assert SimPspPayment.objects.count() == 1


def test_bad_same_key_with_another_amount_is_refused() -> None:
    c = approved_client(provision=False)
    start(c, key="once")
    exc = refused(lambda: start(c, amount="200.00", key="once"))
    assert (exc.status, exc.field) == (422, "idempotency_key")


def test_bad_psp_refusing_the_intent_fails_the_deposit_and_the_key_stays_spent() -> None:
    c = approved_client(provision=False)
    SimPspFault.objects.create(operation="payment_intent", mode="fail", remaining=1)
    with pytest.raises(PaymentError) as caught:
        start(c, key="psp-down")
    assert caught.value.status == 502
    deposit = Deposit.objects.get(idempotency_key="psp-down")
    assert (deposit.status, deposit.failure_code) == (DepositStatus.FAILED, "psp_refused")
    with pytest.raises(PaymentError) as again:
        start(c, key="psp-down")
    assert again.value.message == errors.DEPOSIT_ALREADY_FINAL.format(reference=deposit.reference, status="failed")


# --- card: bad input, nothing stored --------------------------------------------------------------


def test_bad_client_status_that_does_not_allow_deposits() -> None:
    c = registered_client()
    exc = refused(lambda: start(c))
    why = NOT_ALLOWED.format(status="registered", capability="deposit")
    assert (exc.status, exc.field, exc.message) == (409, "client", errors.DEPOSIT_NOT_ALLOWED.format(why=why))


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.001", "EUR", errors.TOO_MANY_DECIMALS.format(field="amount", currency="EUR", places=2)),
        ("10.5", "JPY", errors.TOO_MANY_DECIMALS.format(field="amount", currency="JPY", places=0)),
        ("0", "EUR", errors.AMOUNT_NOT_POSITIVE.format(field="amount")),
        ("-5.00", "EUR", errors.AMOUNT_NOT_POSITIVE.format(field="amount")),
        (10.5, "EUR", errors.AMOUNT_NOT_EXACT.format(field="amount")),
        ("ten", "EUR", errors.AMOUNT_NOT_A_NUMBER.format(field="amount", value="ten")),
        ("10.00", "XYZ", errors.UNKNOWN_CURRENCY.format(field="currency", currency="XYZ")),
    ],
)
def test_bad_amount_or_currency(amount: object, currency: str, message: str) -> None:
    c = approved_client(provision=False)
    exc = refused(lambda: start(c, amount=amount, currency=currency))
    assert (exc.status, exc.message) == (400, message)


def test_bad_return_url_and_missing_key() -> None:
    c = approved_client(provision=False)
    exc = refused(lambda: deposit_start_card(client=c, amount="10.00", currency="EUR", return_url="javascript:x()",
                                             idempotency_key="k"))  # fmt: skip
    assert (exc.field, exc.message) == ("return_url", errors.RETURN_URL_INVALID)
    exc = refused(lambda: start(c, key=" "))
    assert (exc.field, exc.message) == ("idempotency_key", errors.IDEMPOTENCY_KEY_REQUIRED)


def test_bad_no_route_when_no_rule_matches_and_no_default_psp(settings: Any) -> None:
    settings.PAYMENT_PROVIDERS = {"card": ""}
    settings.PAYMENT_PROVIDERS_ROUTED = []
    c = approved_client(provision=False, country="DE")
    exc = refused(lambda: start(c, amount="50.00"))
    assert (exc.status, exc.field) == (422, "currency")
    assert exc.message == errors.NO_ROUTE.format(amount="50.00 EUR", country="DE")


# --- routing ----------------------------------------------------------------------------------------


def test_good_routing_picks_the_psp_by_currency_country_and_amount() -> None:
    rule(10, currency="USD")
    rule(20, countries=["CY", "MT"])
    rule(30, currency="EUR", min_amount=Decimal("1000.00"), max_amount=Decimal("9999.99"))
    rule(5, currency="EUR", enabled=False)  # disabled: passed over
    rule(1, provider="gonepay")  # no such PSP configured: passed over
    de = approved_client(provision=False, country="DE")
    cy = approved_client(provision=False, country="CY")

    def routed(c: Any, amount: str, currency: str = "EUR") -> str:
        return psp_route(client=c, amount=Decimal(amount), currency=currency).name

    assert routed(de, "100.00") == "simpay"  # nothing matches: the default
    assert routed(de, "100.00", "USD") == "simpay2"  # by currency
    assert routed(cy, "100.00") == "simpay2"  # by country
    assert routed(de, "1000.00") == "simpay2"  # by amount, bounds included
    assert routed(de, "9999.99") == "simpay2"
    assert routed(de, "10000.00") == "simpay"
    deposit, url = start(de, amount="2500.00", key="big")
    assert deposit.provider == "simpay2" and "/sim/simpay2/checkout/" in url


def test_bad_callback_from_another_psp_than_the_deposit_was_routed_to_is_refused() -> None:
    rule(10, currency="EUR")
    c = approved_client(provision=False)
    deposit, _ = start(c)
    assert deposit.provider == "simpay2"
    evt = simpay.checkout_pay(order_reference=deposit.reference, amount=deposit.amount, currency="EUR",
                              cardholder=c.display_name)  # fmt: skip
    delivery = simpay.signed(evt, psp="simpay")  # validly signed, but by the PSP it was not routed to
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    assert inbound_event_process(event_pk=stored.pk).status == WebhookStatus.FAILED
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("0")


def test_good_routing_change_needs_a_second_finance_officer() -> None:
    fiona, frank = staff(Role.FINANCE, username="fiona"), staff(Role.FINANCE, username="frank")
    c = approved_client(provision=False, country="DE")
    asked = routing_change_request(
        actor=fiona, op="add", fields={"priority": 10, "currency": "eur", "countries": "de, at", "provider": "simpay2"},
        reason="simpay2 is cheaper for DACH cards",
    )  # fmt: skip
    assert not RoutingRule.objects.exists()  # nothing changes on asking
    assert psp_route(client=c, amount=Decimal("10.00"), currency="EUR").name == "simpay"
    with pytest.raises(OpsError):
        approval_decide(request_id=asked.pk, checker=fiona, decision=Choice.APPROVE, reason="mine")
    approval_decide(request_id=asked.pk, checker=frank, decision=Choice.APPROVE, reason="agreed")
    added = RoutingRule.objects.get()
    assert (added.currency, added.countries, added.provider, added.enabled) == ("EUR", ["AT", "DE"], "simpay2", True)
    assert psp_route(client=c, amount=Decimal("10.00"), currency="EUR").name == "simpay2"

    disable = routing_change_request(actor=frank, op="disable", rule=added, reason="simpay2 outage")
    assert RoutingRule.objects.get().enabled is True
    approval_decide(request_id=disable.pk, checker=fiona, decision=Choice.APPROVE, reason="confirmed outage")
    disable.refresh_from_db()
    assert disable.status == ApprovalStatus.EXECUTED
    assert RoutingRule.objects.get().enabled is False
    assert psp_route(client=c, amount=Decimal("10.00"), currency="EUR").name == "simpay"
    assert AuditEvent.objects.filter(action="payments.routing_rule_changed", subject_id=str(added.pk)).count() == 1


def test_bad_routing_change_by_a_role_that_may_not_ask_or_with_an_unknown_provider() -> None:
    with pytest.raises(PaymentError) as caught:
        routing_change_request(actor=staff(Role.SUPPORT), op="add", fields={"priority": 1, "provider": "simpay2"},
                               reason="x")  # fmt: skip
    assert (caught.value.status, caught.value.message) == (403, errors.ROUTING_NOT_ALLOWED)
    with pytest.raises(PaymentError) as caught:
        routing_change_request(actor=staff(Role.FINANCE), op="add", fields={"priority": 1, "provider": "gonepay"},
                               reason="x")  # fmt: skip
    assert caught.value.field == "provider"
    with pytest.raises(PaymentError) as caught:
        routing_change_request(
            actor=staff(Role.FINANCE), op="add", reason="x",
            fields={"priority": 1, "provider": "simpay2", "min_amount": "10.00"},
        )  # fmt: skip
    assert caught.value.message == errors.ROUTING_BOUNDS_NEED_CURRENCY


def test_good_routing_page_asks_for_a_change_and_lists_it_pending() -> None:
    http = sign_in(HttpClient(), staff(Role.FINANCE, username="fiona"))
    response = http.post(
        "/payments/routing/",
        {"op": "add", "priority": "10", "currency": "USD", "countries": "", "provider": "simpay2",
         "reason": "USD cards to simpay2"},
    )  # fmt: skip
    assert response.status_code == 302
    page = http.get("/payments/routing/").content.decode()
    assert "Add routing rule #10: USD, any country, any amount → simpay2" in page
    assert not RoutingRule.objects.exists()


# --- bank ---------------------------------------------------------------------------------------------


def test_good_bank_start_gives_details_and_a_reference_the_statement_matcher_finds() -> None:
    c = approved_client(provision=False)
    bank = deposit_start_bank(client=c, amount="300.00", currency="EUR")
    assert (bank.iban, bank.bic, bank.reference) == ("DE89370400440532013000", "COBADEFFXXX", bank.deposit.reference)
    assert bank.deposit.status == DepositStatus.INITIATED
    statement = _mt940([("C300,00", f"Deposit {bank.reference}", c.display_name)])
    imported = statement_import(data=statement, filename="s.sta", actor=staff(Role.FINANCE))
    statement_match(import_id=imported.pk)
    assert Deposit.objects.get(pk=bank.deposit.pk).status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("300.00")


def test_bad_bank_start_in_a_currency_the_broker_takes_no_transfers_in() -> None:
    c = approved_client(provision=False)
    exc = refused(lambda: deposit_start_bank(client=c, amount="300.00", currency="CHF"))
    assert (exc.status, exc.message) == (422, errors.NO_BANK_ACCOUNT.format(currency="CHF"))
    exc = refused(lambda: deposit_start_bank(client=registered_client(), amount="300.00", currency="EUR"))
    assert exc.status == 409


# --- the staff payment link ---------------------------------------------------------------------------


def test_good_support_makes_a_card_payment_link_and_a_bank_one_audited() -> None:
    c = approved_client(provision=False)
    sam = staff(Role.SUPPORT, username="sam")
    http = sign_in(HttpClient(), sam)
    page = http.get(f"/clients/{c.pk}/deposit-link/")
    assert page.status_code == 200
    key = page.context["form"].initial["idempotency_key"]
    data = {"channel": "card", "amount": "75.00", "currency": "EUR", "idempotency_key": key}
    response = http.post(f"/clients/{c.pk}/deposit-link/", data)
    assert response.status_code == 200
    deposit = Deposit.objects.get(client=c)
    assert deposit.checkout_url in response.content.decode()
    assert http.post(f"/clients/{c.pk}/deposit-link/", data).status_code == 200  # sent twice: one deposit
    assert Deposit.objects.filter(client=c).count() == 1
    opened = AuditEvent.objects.get(action="payments.deposit_checkout_opened", subject_id=str(deposit.pk))
    assert opened.after["payment_link_by"] == "sam"

    response = http.post(f"/clients/{c.pk}/deposit-link/",
                         {"channel": "bank", "amount": "80.00", "currency": "EUR", "idempotency_key": "bank-1"})  # fmt: skip
    bank = Deposit.objects.get(client=c, channel="bank")
    assert bank.reference in response.content.decode() and "DE89370400440532013000" in response.content.decode()


def test_bad_payment_link_with_too_many_decimals_names_the_field() -> None:
    c = approved_client(provision=False)
    http = sign_in(HttpClient(), staff(Role.FINANCE))
    response = http.post(f"/clients/{c.pk}/deposit-link/",
                         {"channel": "card", "amount": "1.234", "currency": "EUR", "idempotency_key": "x"})  # fmt: skip
    assert response.status_code == 400
    assert errors.TOO_MANY_DECIMALS.format(field="amount", currency="EUR", places=2) in response.content.decode()
    assert not Deposit.objects.exists()
    assert not InboundEvent.objects.exists()
