"""The rule kinds over client-area sign-ins (accounts linked by IP address, by device, within one
partner; sign-ins from many IP addresses; a new device then a withdrawal) and over internal
transfers (into a trading account and straight back out), and amounts compared in the rule's
currency at the FX rate of their moment. Each kind: set-based SQL on real Postgres, firing on the
injected pattern and not on the clean activity beside it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services.sign_ins import client_sign_in_record
from ib.services.partners import attribution_open
from ops.roles import Role
from payments.models import FxRate, JournalEntry
from payments.services.ledger import trading_ledger_account_for, wallet_for
from payments.services.transfers import internal_transfer, platform_balance_push
from payments.services.withdrawals import withdrawal_request
from risk.errors import RuleError
from risk.models import RiskRule, RuleKind
from risk.rules import hits, params_clean
from risk.selectors import evidence_rows, rule_backtest
from risk.services import rule_evaluate, rule_propose
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import deal, tree
from tests.risk.test_rules import _rule_in_force

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Safari/604.1"


def _sign_in(c, ip: str, *, ago: timedelta = timedelta(hours=1), fingerprint: str = "", ua: str = FIREFOX,
             outcome: str = "succeeded", country: str = "") -> None:  # fmt: skip
    client_sign_in_record(
        client=c, outcome=outcome, ip_address=ip, user_agent=ua, device_fingerprint=fingerprint,
        failure_reason="wrong_password" if outcome == "failed" else "", at=timezone.now() - ago, country=country,
    )  # fmt: skip


def _run(kind: str, params: dict, *, days: int = 1):
    now = timezone.now()
    return hits(kind, params_clean(kind, params), start=now - timedelta(days=days), end=now + timedelta(seconds=1))


def _withdraw(c, amount: str, card: str, currency: str = "EUR"):
    return withdrawal_request(
        client=c, source=wallet_for(client=c, currency=currency), amount=amount, method="card", destination=card,
        destination_name=c.display_name,
    )  # fmt: skip


# --- linked accounts ----------------------------------------------------------------------------------


def test_good_linked_ip_and_device_fire_on_shared_sign_ins_only() -> None:
    ann = approved_client(first_name="Ann", last_name="Shared", provision=False)
    bob = approved_client(first_name="Bob", last_name="Shared", provision=False)
    cal = approved_client(first_name="Cal", last_name="Alone", provision=False)
    _sign_in(ann, "203.0.113.5", fingerprint="fp-kitchen-laptop", ago=timedelta(days=3))
    _sign_in(bob, "203.0.113.5", fingerprint="fp-kitchen-laptop", ago=timedelta(hours=2))
    _sign_in(cal, "198.51.100.9", fingerprint="fp-cal")
    _sign_in(cal, "203.0.113.5", outcome="failed")  # a failed attempt links nobody
    (by_ip,) = _run(RuleKind.LINKED_IP, {"min_clients": 2, "window_days": 30})
    assert by_ip.client_id == bob.pk  # the latest to sign in from it
    assert by_ip.summary == "2 clients signed in from IP address 203.0.113.5 within 30 days"
    assert sorted(row["client"] for row in by_ip.evidence) == ["Ann Shared", "Bob Shared"]
    assert by_ip.key.startswith("ip:")
    (by_device,) = _run(RuleKind.LINKED_DEVICE, {"min_clients": 2})
    assert {row["client_id"] for row in by_device.evidence} == {ann.pk, bob.pk}
    assert _run(RuleKind.LINKED_IP, {"min_clients": 3}) == []
    # the alert page says it in names: who, from where
    shown = [row["details"] for row in evidence_rows_of(by_ip)]
    assert any("from 203.0.113.5" in d and "client Ann Shared" in d for d in shown)


def evidence_rows_of(hit):
    from risk.models import RiskAlert

    return evidence_rows(RiskAlert(evidence=hit.evidence))


def test_good_user_agent_hash_links_only_when_the_rule_says_so() -> None:
    a = approved_client(first_name="Dee", provision=False)
    b = approved_client(first_name="Eve", provision=False)
    _sign_in(a, "192.0.2.1", ua=SAFARI)  # no fingerprint: the device is a hash of the user agent
    _sign_in(b, "192.0.2.2", ua=SAFARI)
    assert _run(RuleKind.LINKED_DEVICE, {"devices": "fingerprint"}) == []
    (hit,) = _run(RuleKind.LINKED_DEVICE, {"devices": "fingerprint_or_user_agent"})
    assert {row["client_id"] for row in hit.evidence} == {a.pk, b.pk}


def test_good_a_new_client_joining_a_linked_group_raises_a_new_alert() -> None:
    a, b, c = (approved_client(first_name=n, provision=False) for n in ("Fay", "Gus", "Hal"))
    _sign_in(a, "203.0.113.77")
    _sign_in(b, "203.0.113.77")
    rule = _rule_in_force({"min_clients": 2, "window_days": 30}, kind=RuleKind.LINKED_IP, code="LINK-IP")
    assert len(rule_evaluate(rule_id=rule.pk)) == 1
    assert rule_evaluate(rule_id=rule.pk) == []  # the same group: nothing new
    _sign_in(c, "203.0.113.77", ago=timedelta(minutes=1))
    (again,) = rule_evaluate(rule_id=rule.pk)
    assert (again.client_id, len(again.evidence)) == (c.pk, 3)


def test_good_linked_partner_counts_one_partners_clients_only() -> None:
    alpha, beta = tree("LNKA")[0], tree("LNKB")[0]
    a1, a2, b1 = (approved_client(first_name=n, provision=False) for n in ("Ian", "Joy", "Kim"))
    for client, partner in ((a1, alpha), (a2, alpha), (b1, beta)):
        attribution_open(
            client=client, partner=partner, valid_from=timezone.now() - timedelta(days=5), source="referral"
        )
        _sign_in(client, "198.51.100.200")
    (hit,) = _run(RuleKind.LINKED_PARTNER, {"link": "ip", "min_clients": 2})
    assert hit.summary == "2 clients of partner Partner LNKA signed in from one IP address within 30 days"
    assert {row["client_id"] for row in hit.evidence} == {a1.pk, a2.pk}
    assert _run(RuleKind.LINKED_PARTNER, {"link": "device", "min_clients": 2}) == []  # no fingerprints shared


# --- sign-in patterns ---------------------------------------------------------------------------------


def test_good_many_ips_in_the_window_fire_and_spread_out_ones_do_not() -> None:
    hopper = approved_client(first_name="Hop", provision=False)
    for n, ip in enumerate(("192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13")):
        _sign_in(hopper, ip, ago=timedelta(minutes=40 - n * 10), outcome="failed" if n < 2 else "succeeded")
    traveller = approved_client(first_name="Tra", provision=False)
    for n, ip in enumerate(("192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23")):
        _sign_in(traveller, ip, ago=timedelta(days=n * 2, hours=1))
    (hit,) = _run(RuleKind.SIGN_IN_MANY_IPS, {"min_ips": 4, "window_hours": 24}, days=7)
    assert hit.client_id == hopper.pk
    assert hit.summary == "Sign-ins from 4 IP addresses within 24 h (4 attempts, 2 failed)"
    assert _run(RuleKind.SIGN_IN_MANY_IPS, {"min_ips": 5, "window_hours": 24}, days=7) == []


def test_good_new_device_then_withdrawal_fires_and_a_known_device_does_not() -> None:
    taken = approved_client(first_name="Tak", last_name="Over", provision=False)
    usual = approved_client(first_name="Usu", last_name="Al", provision=False)
    first = approved_client(first_name="Fir", last_name="St", provision=False)
    cards = {c.pk: card_deposit(c, "500.00").payer_account for c in (taken, usual, first)}
    _sign_in(taken, "192.0.2.50", fingerprint="fp-home", ago=timedelta(days=5))
    _sign_in(taken, "203.0.113.250", fingerprint="fp-unknown", ua=SAFARI, ago=timedelta(minutes=30))
    _sign_in(usual, "192.0.2.60", fingerprint="fp-usual", ago=timedelta(days=5))
    _sign_in(usual, "192.0.2.60", fingerprint="fp-usual", ago=timedelta(minutes=30))
    _sign_in(first, "192.0.2.70", fingerprint="fp-first", ago=timedelta(minutes=30))  # no earlier sign-in
    withdrawal = _withdraw(taken, "400.00", cards[taken.pk])
    _withdraw(usual, "400.00", cards[usual.pk])
    _withdraw(first, "400.00", cards[first.pk])
    (hit,) = _run(RuleKind.NEW_DEVICE_WITHDRAWAL, {"within_hours": 24, "history_days": 90, "min_amount": "100"})
    assert (hit.key, hit.client_id) == (f"withdrawal:{withdrawal.pk}", taken.pk)
    assert hit.summary.startswith(f"Withdrawal {withdrawal.reference} of 400.00 EUR 0.5 h after a sign-in")
    sign_in_row = next(r for r in evidence_rows_of(hit) if r["what"] == "Sign-in")
    assert "from 203.0.113.250" in sign_in_row["details"] and "Safari on iPhone" in sign_in_row["details"]
    assert _run(RuleKind.NEW_DEVICE_WITHDRAWAL, {"min_amount": "500", "currency": "EUR"}) == []


# --- countries (where the portal's edge placed the address) ------------------------------------------


def test_good_sign_ins_from_many_countries_in_the_window_fire_and_spread_out_ones_do_not() -> None:
    roaming = approved_client(first_name="Roa", last_name="Ming", provision=False, country="GB")
    for n, country in enumerate(("GB", "NG", "VN", "NG")):
        _sign_in(roaming, f"192.0.2.{30 + n}", ago=timedelta(hours=10 - n * 2), country=country,
                 outcome="failed" if n == 1 else "succeeded")  # fmt: skip
    _sign_in(roaming, "192.0.2.40", ago=timedelta(hours=1))  # not placed: counts for no country
    expat = approved_client(first_name="Exp", last_name="At", provision=False, country="GB")
    for n, country in enumerate(("GB", "FR", "DE")):
        _sign_in(expat, f"198.51.100.{30 + n}", ago=timedelta(days=n * 2, hours=1), country=country)
    (hit,) = _run(RuleKind.SIGN_IN_MANY_COUNTRIES, {"min_countries": 3, "window_hours": 24}, days=7)
    assert hit.client_id == roaming.pk
    assert hit.summary == (
        "Sign-ins from 3 countries (United Kingdom, Nigeria, Vietnam) within 24 h (3 attempts, 1 failed)"
    )
    assert {row["country"] for row in hit.evidence} == {"GB", "NG", "VN"}
    shown = [row["details"] for row in evidence_rows_of(hit)]
    assert any("placed in Vietnam" in d for d in shown) and not any(" VN" in d for d in shown)
    assert _run(RuleKind.SIGN_IN_MANY_COUNTRIES, {"min_countries": 4, "window_hours": 24}, days=7) == []
    # a week wide, the expat's three countries count too
    wide = _run(RuleKind.SIGN_IN_MANY_COUNTRIES, {"min_countries": 3, "window_hours": 168}, days=7)
    assert sorted(h.client_id for h in wide) == sorted([roaming.pk, expat.pk])


def test_good_a_withdrawal_after_a_sign_in_from_abroad_fires_and_one_from_home_does_not() -> None:
    abroad = approved_client(first_name="Abr", last_name="Oad", provision=False, country="GB")
    home = approved_client(first_name="Hom", last_name="Ee", provision=False, country="GB")
    earlier = approved_client(first_name="Ear", last_name="Lier", provision=False, country="GB")
    unplaced = approved_client(first_name="Unp", last_name="Laced", provision=False, country="GB")
    cards = {c.pk: card_deposit(c, "500.00").payer_account for c in (abroad, home, earlier, unplaced)}
    _sign_in(abroad, "192.0.2.80", ago=timedelta(days=2), country="GB")
    _sign_in(abroad, "203.0.113.80", ago=timedelta(hours=2), country="NG")
    _sign_in(home, "192.0.2.81", ago=timedelta(hours=2), country="GB")
    _sign_in(earlier, "203.0.113.82", ago=timedelta(hours=30), country="NG")  # outside the 24 hours
    _sign_in(unplaced, "203.0.113.83", ago=timedelta(hours=2))  # the edge did not say
    withdrawal = _withdraw(abroad, "400.00", cards[abroad.pk])
    for c in (home, earlier, unplaced):
        _withdraw(c, "400.00", cards[c.pk])
    params = {"within_hours": 24, "min_amount": "100", "currency": "EUR"}
    (hit,) = _run(RuleKind.SIGN_IN_COUNTRY_WITHDRAWAL, params)
    assert (hit.key, hit.client_id) == (f"withdrawal:{withdrawal.pk}", abroad.pk)
    assert hit.summary == (
        f"Withdrawal {withdrawal.reference} of 400.00 EUR 2.0 h after a sign-in from Nigeria, the client living "
        "in United Kingdom"
    )
    sign_in_row = next(r for r in evidence_rows_of(hit) if r["what"] == "Sign-in")
    assert (
        "placed in Nigeria" in sign_in_row["details"] and "the client lives in United Kingdom" in sign_in_row["details"]
    )
    assert _run(RuleKind.SIGN_IN_COUNTRY_WITHDRAWAL, {**params, "min_amount": "500"}) == []
    assert len(_run(RuleKind.SIGN_IN_COUNTRY_WITHDRAWAL, {**params, "within_hours": 48})) == 2  # the earlier one too


def test_good_the_country_rules_run_as_rules_and_in_the_backtest() -> None:
    roaming = approved_client(first_name="Roa", last_name="Ming", provision=False, country="GB")
    for n, country in enumerate(("GB", "NG", "VN")):
        _sign_in(roaming, f"192.0.2.{30 + n}", ago=timedelta(days=3, hours=n), country=country)
    rule = _rule_in_force(
        {"min_countries": 4, "window_hours": 24}, kind=RuleKind.SIGN_IN_MANY_COUNTRIES, code="COUNTRIES"
    )
    backtest = rule_backtest(rule, params_clean(RuleKind.SIGN_IN_MANY_COUNTRIES, {"min_countries": 3}))
    assert (backtest.current_count, backtest.proposed_count) == (0, 1)
    assert [r.client.pk for r in backtest.rows if r.client] == [roaming.pk]
    assert rule_evaluate(rule_id=rule.pk, start=timezone.now() - timedelta(days=7)) == []  # 4 countries: none
    with pytest.raises(RuleError) as caught:
        params_clean(RuleKind.SIGN_IN_MANY_COUNTRIES, {"min_countries": 1, "window_hours": 0})
    assert caught.value.problems == {"min_countries": "From 2 to 50.", "window_hours": "From 1 to 720."}


# --- transfers ----------------------------------------------------------------------------------------


def _round_trip(c, into: str, out: str, key: str) -> None:
    wallet = wallet_for(client=c, currency="EUR")
    trading = trading_ledger_account_for(account=c.trading_accounts.get())
    internal_transfer(from_account=wallet, to_account=trading, amount=into, actor=None, key=f"{key}-in")
    platform_balance_push(entry_id=JournalEntry.objects.get(idempotency_key=f"{key}-in").pk)
    internal_transfer(from_account=trading, to_account=wallet, amount=out, actor=None, key=f"{key}-out")


def test_good_transfer_round_trip_without_trading_fires_and_with_trading_does_not() -> None:
    quick = approved_client(first_name="Qui", last_name="Ck")
    card_deposit(quick, "2000.00")
    _round_trip(quick, "1800.00", "1750.00", "quick")
    trader = approved_client(first_name="Tra", last_name="Der")
    card_deposit(trader, "2000.00")
    wallet = wallet_for(client=trader, currency="EUR")
    trading = trading_ledger_account_for(account=trader.trading_accounts.get())
    internal_transfer(from_account=wallet, to_account=trading, amount="1800.00", actor=None, key="trader-in")
    platform_balance_push(entry_id=JournalEntry.objects.get(idempotency_key="trader-in").pk)
    deal(trader, lots="3.00", closed_at=timezone.now())
    internal_transfer(from_account=trading, to_account=wallet, amount="1750.00", actor=None, key="trader-out")
    params = {"min_pct": 80, "within_hours": 24, "max_lots": "0.10", "min_amount": "1000", "currency": "EUR"}
    (hit,) = _run(RuleKind.TRANSFER_ROUND_TRIP, params)
    out_entry = JournalEntry.objects.get(idempotency_key="quick-out")
    assert (hit.key, hit.client_id) == (f"transfer:{out_entry.pk}", quick.pk)
    login = quick.trading_accounts.get().login
    assert hit.summary == f"1,800.00 EUR into trading account {login} and 1,750.00 back out 0.0 h later, 0 lots traded"
    assert [r["direction"] for r in hit.evidence if r["table"] == "transfer"] == ["in", "out"]
    assert _run(RuleKind.TRANSFER_ROUND_TRIP, {**params, "min_amount": "2000"}) == []


# --- amounts in the rule's currency -------------------------------------------------------------------


def test_good_amounts_in_two_currencies_are_compared_in_the_rules_currency() -> None:
    """Structuring just under 1,000 EUR: a USD deposit of 1,050 is 954.55 EUR at EUR/USD 1.10 (the
    inverse of the only pair there is; a later rate is not used yet), so it counts; compared raw it
    would be over the threshold and the rule would miss the pattern."""
    now = timezone.now()
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.10"), as_of=now - timedelta(days=2))
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("2.00"), as_of=now + timedelta(days=1))
    mixed = approved_client(first_name="Mix", last_name="Ed")
    for amount, currency in (("950.00", "EUR"), ("960.00", "EUR"), ("1050.00", "USD")):
        card_deposit(mixed, amount, currency=currency)
    dollars = approved_client(first_name="Dol", last_name="Lar")
    for _ in range(3):
        card_deposit(dollars, "980.00", currency="USD")  # 890.91 EUR each: under the 10% band
    params = {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3, "currency": "EUR"}
    (hit,) = _run(RuleKind.STRUCTURING, params)
    assert hit.client_id == mixed.pk
    usd = next(r for r in hit.evidence if r["currency"] == "USD")
    assert (Decimal(str(usd["amount"])), Decimal(str(usd["converted"]))) == (Decimal("1050.00"), Decimal("954.55"))
    assert hit.summary == "3 deposits just under 1,000.00 EUR (2,864.55 in all) within 7 days"
    # in USD the same threshold catches the dollar client's deposits (980 USD) and not the mixed ones
    (in_usd,) = _run(RuleKind.STRUCTURING, {**params, "currency": "USD"})
    assert in_usd.client_id == dollars.pk


def test_good_amount_without_a_rate_is_not_compared() -> None:
    c = approved_client(first_name="Gbp", last_name="Only")
    for amount in ("950.00", "960.00", "970.00"):
        card_deposit(c, amount, currency="GBP")
    params = {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3}
    assert _run(RuleKind.STRUCTURING, {**params, "currency": "GBP"}) != []
    assert _run(RuleKind.STRUCTURING, {**params, "currency": "EUR"}) == []  # no GBP rate: not comparable


def test_good_a_version_approved_before_the_currency_parameter_runs_with_its_default() -> None:
    c = approved_client()
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount)
    now = timezone.now()
    old = {"direction": "deposit", "threshold": "1000.00", "band_pct": 10, "min_count": 3, "window_days": 7}
    assert [h.client_id for h in hits(RuleKind.STRUCTURING, old, start=now - timedelta(days=1), end=now)] == [c.pk]


# --- parameters and the backtest ------------------------------------------------------------------------


def test_bad_parameters_of_the_new_kinds_name_the_parameter_and_store_nothing() -> None:
    with pytest.raises(RuleError) as caught:
        params_clean(RuleKind.STRUCTURING, {"currency": "XXX"})
    assert caught.value.problems == {"currency": "One of USD, EUR, GBP, CHF, AUD, CAD, JPY, KWD."}
    with pytest.raises(RuleError) as caught:
        rule_propose(
            actor=staff(Role.RISK), code="LINKDEV", name="Shared devices", kind=RuleKind.LINKED_DEVICE,
            params={"min_clients": 1, "devices": "cookies"}, valid_from=timezone.now(), valid_to=None, note="",
            reason="new",
        )  # fmt: skip
    assert caught.value.problems == {
        "params.min_clients": "From 2 to 100.",
        "params.devices": "One of fingerprint, fingerprint_or_user_agent.",
    }
    assert not RiskRule.objects.exists()


def test_good_backtest_replays_a_sign_in_rule_over_30_days() -> None:
    a, b, c, d, e = (approved_client(first_name=n, provision=False) for n in ("Lia", "Max", "Ned", "Oli", "Pam"))
    for client, days in ((a, 6), (b, 5), (c, 4)):
        _sign_in(client, "203.0.113.90", ago=timedelta(days=days))
    for client, days in ((d, 3), (e, 2)):
        _sign_in(client, "198.51.100.90", ago=timedelta(days=days))
    rule = _rule_in_force({"min_clients": 3, "window_days": 30}, kind=RuleKind.LINKED_IP, code="LINK-IP3")
    backtest = rule_backtest(rule, params_clean(RuleKind.LINKED_IP, {"min_clients": 2, "window_days": 30}))
    # the proposal (two clients are a link) adds the pair; both raise the three
    assert (backtest.current_count, backtest.proposed_count, backtest.both) == (1, 2, 1)
    added = [r.client.first_name for r in backtest.rows if r.proposed and not r.current and r.client]
    assert added == ["Pam"]
