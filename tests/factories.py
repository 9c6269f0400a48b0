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
        "phone": "+447911123456",
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
