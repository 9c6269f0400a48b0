"""Demo only: months of history for the reports (registrations, KYC, deposits, failed payments,
paid withdrawals, closures), made through the real services at past moments by a demo clock.

``demo_clock(moment)`` makes ``django.utils.timezone.now`` (and every model field defaulting to
it) answer ``moment`` plus the time elapsed since, so the services stamp their rows, history and
audit events as of then -- the way a back office that went live months ago would hold them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.apps import apps
from django.utils import timezone

_real_now = timezone.now


@contextmanager
def demo_clock(moment: datetime) -> Iterator[None]:
    offset = moment - _real_now()

    def shifted() -> datetime:
        return _real_now() + offset

    fields = [
        f
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if getattr(f, "default", None) is _real_now
    ]
    for f in fields:
        f.default = shifted
        f.__dict__.pop("_get_default", None)
    try:
        with mock.patch("django.utils.timezone.now", shifted):
            yield
    finally:
        for f in fields:
            f.default = _real_now
            f.__dict__.pop("_get_default", None)


COUNTRIES = [
    ("GB", "GBP"), ("DE", "EUR"), ("FR", "EUR"), ("ES", "EUR"), ("IT", "EUR"), ("NL", "EUR"), ("SG", "USD"),
    ("AE", "USD"), ("US", "USD"), ("AU", "USD"), ("ZA", "USD"), ("CH", "EUR"),
]  # fmt: skip


def _phone(country: str, n: int) -> str:
    """A valid mobile number of the country, its own per client (a shared one flags a duplicate)."""
    import phonenumbers

    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, country
    national = str(example.national_number)
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{n % 1000:03d}")
    if phonenumbers.is_valid_number(candidate):
        return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


FIRST = ["Olivia", "Liam", "Emma", "Mateo", "Ava", "Elias", "Mia", "Lucas", "Zoe", "Omar", "Yuki", "Ines"]
LAST = ["Brown", "Muller", "Martin", "Lopez", "Bianchi", "de Vries", "Tan", "Haddad", "Johnson", "Walker"]
TYPES = ["standard", "standard", "pro", "ecn", "swap_free"]


def seed_history(*, days: int, per_week: int = 3, seed: int = 17) -> int:
    """Register about ``per_week`` clients a week over the last ``days`` days and take each through
    what a client does (the outcomes vary: approved and funded, some payments failing, some asked
    for more documents, a few closed). Returns how many clients it registered."""
    from accounts.models import AccountType, ClientStatus
    from accounts.services.clients import client_register, client_transition
    from backoffice.management.commands.demo_seed import _upload_required
    from kyc.services.documents import document_review
    from kyc.services.screening import client_screen
    from ops.models import User

    rng = random.Random(seed)  # the same history on every machine
    _demo_list(days)
    users = {u.username: u for u in User.objects.filter(is_active=True)}
    support, compliance = users["support"], users["compliance"]
    managers = [users[n] for n in ("support", "finance", "risk") if n in users]
    types = {t.code: t for t in AccountType.objects.all()}
    today = timezone.localdate()
    start = today - timedelta(days=days)
    made = 0
    day = start
    n = 0
    while day < today - timedelta(days=3):
        n += 1
        country, currency = COUNTRIES[n % len(COUNTRIES)]
        account_type = types[TYPES[n % len(TYPES)]]
        if currency not in account_type.currencies:
            currency = "USD"
        at = _moment(day, rng)
        with demo_clock(at):
            client = client_register(
                kind="individual",
                data={
                    "first_name": FIRST[n % len(FIRST)], "last_name": f"{LAST[(n * 7) % len(LAST)]} {n}", "date_of_birth": date(1970 + n % 30, 1 + n % 12, 1 + n % 27),
                    "nationality": country, "country": country, "email": f"history{n}@demo.invalid",
                    "phone": _phone(country, n), "account_type": account_type, "base_currency": currency,
                    "account_manager": managers[n % len(managers)], "segment": "retail",
                    "source_of_funds": "salary", "tags": ["pep"] if n % 11 == 5 else [],
                },
                actor=support,
            )  # fmt: skip
            client_screen(client_id=client.pk)  # as the task queued by the registration does, then
        made += 1
        fate = rng.random()
        if fate < 0.12:
            day += timedelta(days=rng.randint(1, 4))
            continue  # registered, nothing uploaded
        with demo_clock(at + timedelta(hours=rng.randint(2, 30))):
            documents = _upload_required(client, support)
        review_at = at + timedelta(hours=rng.randint(30, 120))
        if fate < 0.25:
            with demo_clock(review_at):
                for document in documents:
                    if document.kind == "proof_of_address":
                        document_review(document_id=document.pk, reviewer=compliance, accept=False,
                                        reason_code=rng.choice(["blurred", "address_mismatch", "expired"]),
                                        note="demo: please send a new one")  # fmt: skip
                    else:
                        document_review(document_id=document.pk, reviewer=compliance, accept=True, note="demo: checked")
            day += timedelta(days=rng.randint(1, 4))
            continue
        with demo_clock(review_at):
            for document in documents:
                document_review(document_id=document.pk, reviewer=compliance, accept=True, note="demo: checked")
            client.refresh_from_db()
            _decide_hits(client, compliance)
            # a high-risk client (a PEP, a screening hit) waits in enhanced due diligence for its extra documents
            if client.status == ClientStatus.PENDING_REVIEW and not _needs_edd(client):
                client_transition(client_id=client.pk, name="approve", actor=compliance, reason="demo: KYC complete")
        client.refresh_from_db()
        if client.status == ClientStatus.APPROVED:
            _payments(client, currency, review_at, today, rng)
            if rng.random() < 0.06:
                with demo_clock(review_at + timedelta(days=rng.randint(20, 40))):
                    if timezone.localdate() < today:
                        client_transition(client_id=client.pk, name="close", actor=compliance,
                                          reason="demo: the client asked to close the account")  # fmt: skip
        day += timedelta(days=rng.randint(1, 4))
    return made


def _history_name(n: int) -> str:
    return f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]} {n}"


SCREENED = (4, 9, 15, 26)  # the history clients whose names are on the demo list


def _demo_list(days: int) -> None:
    """A small sanctions/PEP list (the OpenSanctions shape) naming a few of the history's clients,
    imported before they register, so their registration raises screening hits."""
    import io

    from kyc.models import SanctionsListVersion
    from kyc.services.screening import sanctions_import

    if SanctionsListVersion.objects.exists():
        return
    header = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n"
    rows = "".join(
        f"DEMO{n},Person,{_history_name(n)},,,,,,Demo list,,,demo,2020-01-01,2026-01-01,2026-01-01\n" for n in SCREENED
    )
    from audit.context import Actor, acting_as

    with demo_clock(timezone.now() - timedelta(days=days + 1)), acting_as(Actor.system("demo_seed")):
        list(sanctions_import(name="demo sanctions list", source=io.StringIO(header + rows), source_file="demo.csv"))


def _decide_hits(client: Any, compliance: Any) -> None:
    """Most hits are cleared as false positives (another date of birth); one in four stays open."""
    from kyc.models import HitStatus, ScreeningHit
    from kyc.services.screening import screening_hit_decide

    for hit in ScreeningHit.objects.filter(client=client, status=HitStatus.OPEN):
        if client.pk % 4:
            screening_hit_decide(hit_id=hit.pk, reviewer=compliance, true_match=False,
                                 reason="demo: another person (date of birth and country differ)")  # fmt: skip


def _needs_edd(client: Any) -> bool:
    from kyc.models import HitStatus, ScreeningHit
    from kyc.services.risk import missing_for_approval

    return (
        bool(missing_for_approval(client)) or ScreeningHit.objects.filter(client=client, status=HitStatus.OPEN).exists()
    )


def _moment(day: date, rng: random.Random) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(
        hours=rng.randint(8, 19), minutes=rng.randint(0, 59)
    )


def _payments(client: Any, currency: str, approved_at: datetime, today: date, rng: random.Random) -> None:
    """Card deposits (one in eight declined), then now and then a withdrawal taken through its
    approvals, paid out and confirmed by the PSP."""
    from payments.models import DepositStatus

    at = approved_at + timedelta(hours=rng.randint(1, 48))
    paid = None
    for _ in range(rng.randint(1, 4)):
        if at.date() >= today:
            return
        amount = max(
            Decimal(rng.choice(["250", "500", "1000", "1500", "3000", "5000"])), client.account_type.min_deposit
        )
        with demo_clock(at):
            failure = rng.choice(["card_declined", "insufficient_funds", "do_not_honor"])
            deposit = _card_deposit(
                client, f"{amount:.2f}", currency, succeed=rng.random() > 0.12, failure_code=failure
            )
        if deposit.status == DepositStatus.CREDITED:
            paid = deposit
        at += timedelta(days=rng.randint(3, 25), hours=rng.randint(0, 12))
    if paid is None or at.date() >= today or rng.random() < 0.4:
        return
    _paid_withdrawal(client, currency, paid, rng, at=at)


def _card_deposit(client: Any, amount: str, currency: str, *, succeed: bool, failure_code: str) -> Any:
    from payments.services.deposits import deposit_initiate
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from sim import simpay

    deposit = deposit_initiate(client=client, channel="card", amount=amount, currency=currency)
    evt = simpay.checkout_pay(
        order_reference=deposit.reference, amount=deposit.amount, currency=currency,
        cardholder=client.display_name.upper(), succeed=succeed,
        failure_code=failure_code,
    )  # fmt: skip
    delivery = simpay.signed(evt)
    stored, _ = inbound_event_store(provider=simpay.PROVIDER, body=delivery.body, signature=delivery.signature)
    inbound_event_process(event_pk=stored.pk)
    deposit.refresh_from_db()
    return deposit


def _paid_withdrawal(client: Any, currency: str, deposit: Any, rng: random.Random, *, at: datetime) -> None:
    """Requested at ``at``, approved a few hours later, paid out and confirmed by the PSP within
    about two days (so the processing times have a spread)."""
    from ops.models import User
    from ops.services.approvals import approval_decide
    from payments.services.ledger import wallet_for
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from payments.services.withdrawals import payout_send, withdrawal_payout_execute, withdrawal_request
    from sim import simpay
    from sim.models import SimPspPayout

    users = {u.username: u for u in User.objects.filter(username__in=["finance", "finance2", "compliance2"])}
    amount = rng.choice(["100.00", "200.00", "150.00"])
    with demo_clock(at):
        w = withdrawal_request(
            client=client, source=wallet_for(client=client, currency=currency), amount=amount, method="card",
            destination=deposit.payer_account, destination_name=client.display_name,
        )  # fmt: skip
    at += timedelta(hours=rng.randint(1, 20))
    with demo_clock(at):
        for checker in ("finance", "compliance2"):
            w.refresh_from_db()
            if w.approval_request_id and w.status == "under_review":
                approval_decide(request_id=w.approval_request_id, checker=users[checker], decision="approve",
                                reason="demo: card matches the deposits")  # fmt: skip
        w.refresh_from_db()
        if w.status == "approved":
            withdrawal_payout_execute(withdrawal_id=w.pk, actor=users["finance2"])
        w.refresh_from_db()
        if w.status != "processing":
            return
        voucher = payout_send(withdrawal_id=w.pk)
    with demo_clock(min(at + timedelta(hours=rng.randint(2, 30)), timezone.now() - timedelta(minutes=5))):
        evt = simpay.payout_outcome_event(SimPspPayout.objects.get(payout_id=voucher))
        delivery = simpay.signed(evt)
        stored, _ = inbound_event_store(provider=simpay.PROVIDER, body=delivery.body, signature=delivery.signature)
        inbound_event_process(event_pk=stored.pk)
