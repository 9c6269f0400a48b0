from __future__ import annotations

from typing import Any, cast

import factory
from django.contrib.auth.models import Group

from ops.models import User
from ops.roles import Role

PASSWORD = "correct-horse-battery-staple"


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: Any) -> None:
        if create and extracted:
            cast(User, self).groups.set(Group.objects.filter(name__in=[r.value for r in extracted]))


def staff(role: Role | None = None, **kwargs: Any) -> User:
    return cast(User, StaffFactory(roles=[role] if role else [], **kwargs))


def work_item(queue: str = "kyc_review", *, subject: Any = None, **kwargs: Any) -> Any:
    """An open work item on some subject (a throwaway staff record stands in for a domain object)."""
    from ops.services.work_items import work_item_open

    subject = subject if subject is not None else StaffFactory()
    kwargs.setdefault("title", f"Check {subject}")
    return work_item_open(queue=queue, subject=subject, **kwargs)


def client(*, kind: str = "individual", account_type: str = "standard", actor: Any = None, **fields: Any) -> Any:
    """A registered client, made through the registration service."""
    import datetime

    from accounts.models import AccountType
    from accounts.services.clients import client_register
    from ops.roles import Role as _Role

    n = next(_client_seq)
    data: dict[str, Any] = {
        "country": "GB",
        "email": f"client{n}@example.test",
        "phone": f"+4479111{n:05d}",  # each its own: a shared phone flags a possible duplicate
        "account_type": AccountType.objects.get(code=account_type),
        "base_currency": "USD",
    }
    if kind == "individual":
        data |= {
            "first_name": "Ada",
            "last_name": f"Lovelace{n}",
            "date_of_birth": datetime.date(1985, 12, 10),
            "nationality": "GB",
        }
    else:
        data |= {"legal_name": f"Analytical Engines {n} Ltd", "registration_number": f"0{n:07d}"}
    data |= fields
    return client_register(kind=kind, data=data, actor=actor or staff(_Role.SUPPORT))


_client_seq = iter(range(1, 1_000_000))


def kyc_ready(c: Any, *, level: str = "low") -> Any:
    """Record what approval needs — every required document accepted and a risk assessment — as
    test data, for tests about what happens after KYC (the KYC flow itself is tested in tests/kyc)."""
    from kyc.models import Document, DocumentStatus, RiskAssessment
    from kyc.requirements import EDD_EXTRA, REQUIRED

    kinds = [*REQUIRED[c.kind], *(EDD_EXTRA if level == "high" else [])]
    for kind in kinds:
        Document.objects.create(
            client=c, kind=kind, file=f"{c.pk}/{kind}", original_name=f"{kind}.pdf", content_type="application/pdf",
            size=1, sha256="0" * 64, status=DocumentStatus.ACCEPTED, uploaded_by="test",
        )  # fmt: skip
    RiskAssessment.objects.create(
        client=c, score=0 if level == "low" else 80, level=level, edd_required=level == "high", assessed_by="test"
    )
    return c


def approvable_client(**kwargs: Any) -> Any:
    """A registered client whose KYC is complete (see kyc_ready)."""
    return kyc_ready(client(**kwargs))


def approved_client(*, currency: str = "EUR", provision: bool = True, **kwargs: Any) -> Any:
    """An approved client with its trading account provisioned on the simulated platform."""
    from accounts.services.clients import client_transition
    from accounts.services.trading_accounts import trading_account_provision
    from ops.roles import Role as _Role

    c = approvable_client(base_currency=currency, **kwargs)
    client_transition(client_id=c.pk, name="submit_for_review", actor=None)
    client_transition(client_id=c.pk, name="approve", actor=staff(_Role.COMPLIANCE), reason="KYC complete")
    if provision:
        for account in c.trading_accounts.all():
            trading_account_provision(account_id=account.pk)
    c.refresh_from_db()
    return c


def card_deposit(c: Any, amount: str, *, cardholder: str | None = None, currency: str = "EUR", **kwargs: Any) -> Any:
    """A card deposit paid through SimPay, its signed callback stored and processed."""
    from payments.services.deposits import deposit_initiate
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from sim import simpay

    deposit = deposit_initiate(client=c, channel="card", amount=amount, currency=currency, **kwargs)
    evt = simpay.checkout_pay(
        order_reference=deposit.reference,
        amount=deposit.amount,
        currency=currency,
        cardholder=cardholder or c.display_name,
    )
    delivery = simpay.signed(evt)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    inbound_event_process(event_pk=stored.pk)
    deposit.refresh_from_db()
    return deposit
