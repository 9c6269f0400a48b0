"""Load the demo data, idempotently, and print one login per role. Demo mode only."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record, audit_seal
from ops.models import User
from ops.roles import Role
from ops.services.staff import staff_create

# Roles whose decisions a second person of the same role checks (maker-checker levels: finance for
# withdrawals and deposits, compliance for KYC and unfreezing, risk for leverage, admin for staff
# roles). The demo has two of each, so every request made in the demo can be decided in it.
CHECKING_ROLES = (Role.FINANCE, Role.COMPLIANCE, Role.RISK, Role.ADMIN)
DEMO_STAFF: list[tuple[str, Role]] = [
    ("support", Role.SUPPORT),
    ("compliance", Role.COMPLIANCE),
    ("compliance2", Role.COMPLIANCE),
    ("finance", Role.FINANCE),
    ("finance2", Role.FINANCE),
    ("risk", Role.RISK),
    ("risk2", Role.RISK),
    ("admin", Role.ADMIN),
    ("admin2", Role.ADMIN),
    ("auditor", Role.AUDITOR),
]


class Command(BaseCommand):
    help = "Load demo data (demo mode only) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_seed runs only in demo mode (BACKOFFICE_DEMO=1, set by `make demo`)")
        logins_file = Path(settings.VAR_DIR) / "demo-logins.json"
        logins: dict[str, str] = json.loads(logins_file.read_text()) if logins_file.exists() else {}
        created = 0
        with acting_as(Actor.system("demo_seed")):
            for username, role in DEMO_STAFF:
                user = User.objects.filter(username=username).first()
                if user is None:
                    password = secrets.token_urlsafe(12)
                    staff_create(
                        username=username,
                        email=f"{username}@demo.invalid",
                        password=password,
                        roles=[role],
                        reason="demo data",
                    )
                    logins[username] = password
                    created += 1
                elif username not in logins:  # logins file lost: issue a new password
                    logins[username] = secrets.token_urlsafe(12)
                    user.set_password(logins[username])
                    user._change_reason = "demo data: new demo password"  # type: ignore[attr-defined]
                    user.save()
            secrets_by_user = {username: _demo_second_factor(username) for username, _ in DEMO_STAFF}
            if created:
                with transaction.atomic():
                    audit_record(
                        action=AuditAction.DEMO_DATA_LOADED,
                        subject=("backoffice.demo", "staff"),
                        after={"staff_created": created},
                    )
            _seed_webhooks()
            _seed_workspace()
            _seed_clients()
            _seed_kyc()
            _seed_identity_checks()
            _seed_payments()
            _seed_history()
            _seed_partners()
            _seed_trade_feed()
            _seed_commissions()
            _seed_chargeback()
            _seed_sign_ins()
            _seed_risk()
            _seed_sar()
            api_keys = _seed_partner_api_key()
            _seed_followups()
            client_area_prefix = _seed_client_area_key()
            agent_tokens = _seed_agents()
            audit_seal()
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        logins_file.write_text(json.dumps(logins, indent=2))
        logins_file.chmod(0o600)
        totp_file = Path(settings.VAR_DIR) / "demo-totp.json"
        totp_file.write_text(json.dumps({u: uri for u, (_, uri) in secrets_by_user.items()}, indent=2))
        totp_file.chmod(0o600)
        self.stdout.write(
            "Demo logins (demo mode only; stored in var/demo-logins.json). Each signs in with a password, then a"
            " code from a TOTP app set up with the secret shown (otpauth:// links in var/demo-totp.json):"
        )
        for username, role in DEMO_STAFF:
            self.stdout.write(
                f"  {role.label:<18} {username:<12} {logins[username]}  TOTP secret {secrets_by_user[username][0]}"
            )
        for code, token in api_keys.items():
            self.stdout.write(
                f"Partner API key of partner {code} (partner:read, partner:write; stored in var/demo-api-keys.json):\n"
                f"  {token}\n  e.g. curl -H 'Authorization: Bearer {token}' <server>/api/v1/partner/clients/"
            )

        self.stdout.write(f"Agents' MCP server at {settings.MCP_SERVER_URL} (Authorization: Bearer <token>); tokens:")
        for name, token in agent_tokens.items():
            self.stdout.write(f"  {name:<18} {token}")
        self.stdout.write(
            f"Sample client area (the broker's front office, built only on the client-area API with the demo's "
            f"client-area key {client_area_prefix}, no sign-in): {settings.SIM_PSP_PUBLIC_URL}/sim/client-area/"
        )


DEMO_API_PARTNER = "ALPHA"


def _seed_partner_api_key() -> dict[str, str]:
    """A partner API key for the demo's master partner, asked for by one administrator and approved
    by the other (the ordinary maker-checker path). Its secret is shown once, so the demo keeps it in
    var/demo-api-keys.json; if that file was lost, the old key is revoked and a new one issued."""
    from ib.models import Partner
    from ops.models import ApiKey, ApiKeyStatus
    from ops.services.api_keys import api_key_request, api_key_revoke
    from ops.services.approvals import approval_decide

    keys_file = Path(settings.VAR_DIR) / "demo-api-keys.json"
    kept: dict[str, str] = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    partner = Partner.objects.filter(code=DEMO_API_PARTNER).first()
    if partner is None:
        return {}
    name = f"Demo partner API key ({partner.code})"
    existing = ApiKey.objects.filter(name=name, status=ApiKeyStatus.ACTIVE).first()
    if existing is not None and partner.code in kept:
        return {partner.code: kept[partner.code]}
    admin, admin2 = User.objects.get(username="admin"), User.objects.get(username="admin2")
    if existing is not None:  # its secret was lost with the file: a new key replaces it
        api_key_revoke(key_id=existing.pk, actor=admin, reason="demo: the key's secret was lost, a new one is issued")
    made = api_key_request(
        maker=admin, name=name, owner_kind="partner", owner=partner, scopes=["partner:read", "partner:write"],
        allowed_ips=[], expires_at=None, rate_per_minute=None,
        reason="demo: the partner's own systems read its clients, commissions and disputes",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=admin2, decision="approve", reason="demo: checked")
    kept[partner.code] = made.token
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(kept, indent=2))
    keys_file.chmod(0o600)
    return {partner.code: made.token}


def _seed_webhooks() -> None:
    """An outbound webhook endpoint for every event type, pointing at the simulated receiver on the
    demo's own server (sim.webhooks), which is given the endpoint's secret as a receiver's operator
    would paste it: the demo's events are delivered, signed, from the start (/staff/webhooks/)."""
    from urllib.parse import urlsplit

    from ops.events import EventType
    from ops.models import WebhookEndpoint
    from ops.services.webhooks import webhook_endpoint_create
    from sim.models import SimWebhookReceiver

    if WebhookEndpoint.objects.filter(description="Demo CRM (simulated receiver)").exists():
        return
    server = urlsplit(settings.SIMPAY_WEBHOOK_URL)
    _, secret = webhook_endpoint_create(
        url=f"{server.scheme}://{server.netloc}/sim/webhooks/demo-crm/",
        description="Demo CRM (simulated receiver)",
        event_types=list(EventType.values),
        actor=User.objects.get(username="admin"),
    )
    SimWebhookReceiver.objects.update_or_create(name="demo-crm", defaults={"secrets": secret})


def _seed_client_area_key() -> str:
    """The client-area API key the sample client area (sim.client_area) calls with, made as any key
    is: admin asks for it, admin2 approves it. Its secret is shown once, so the demo keeps it in a
    file (mode 600) that the sample reads; a later run reuses it while it still works. Returns the
    key's prefix."""
    from ops.api_keys import api_key_find, api_key_usable
    from ops.services.api_keys import api_key_request
    from ops.services.approvals import approval_decide
    from sim.client_area import key_file

    path = key_file()
    if path.exists():
        key = api_key_find(path.read_text().strip())
        if key is not None and api_key_usable(key):
            return key.prefix
    made = api_key_request(
        maker=User.objects.get(username="admin"), name="Sample client area (demo)", owner_kind="client_area",
        owner=None, scopes=["client_area"], allowed_ips=["127.0.0.1", "::1"], expires_at=None,
        rate_per_minute=None, reason="demo: the sample client area calls the client-area API with it",
    )  # fmt: skip
    approval_decide(
        request_id=made.approval.pk, checker=User.objects.get(username="admin2"), decision="approve",
        reason="demo: loopback only, client_area scope",
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(made.token)
    path.chmod(0o600)
    return made.key.prefix


def _demo_second_factor(username: str) -> tuple[str, str]:
    """The demo user's authenticator (made once, audited): its base32 secret and otpauth:// URI."""
    from base64 import b32encode

    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ops.services.second_factor import AUTHENTICATOR

    user = User.objects.get(username=username)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        with transaction.atomic():
            device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=True)
            audit_record(
                action=AuditAction.STAFF_SECOND_FACTOR_ENROLLED,
                subject=user,
                after={"devices": [AUTHENTICATOR]},
                reason="demo data",
            )
    return b32encode(device.bin_key).decode(), device.config_url


def _seed_workspace() -> None:
    """Queues and approvals with something in them, made through the real services: an executed
    role grant (which puts an access review in the compliance queue), a grant waiting for a
    second admin, a risk alert from repeated failed sign-ins, and the quarter's access review,
    overdue and escalated."""
    from datetime import timedelta

    from django.utils import timezone

    from ops.models import ApprovalRequest
    from ops.services.access_review import access_review_open_due
    from ops.services.approvals import approval_decide, approval_submit
    from ops.services.work_items import (
        work_item_claim,
        work_item_open,
        work_items_escalate_overdue,
        work_items_open_for,
    )

    users = {u.username: u for u in User.objects.filter(username__in=[n for n, _ in DEMO_STAFF])}
    if ApprovalRequest.objects.filter(maker=users["admin"]).exists():
        return  # already seeded
    users["compliance"].lead = users["compliance2"]
    users["compliance"]._change_reason = "demo data: team lead"  # type: ignore[attr-defined]
    users["compliance"].save()
    # (Compliance and support may be held together; risk and the auditor may not: ops.roles.INCOMPATIBLE_ROLES.)
    done = approval_submit(
        action="staff.grant_role",
        subject=users["compliance2"],
        payload={"role": "support"},
        maker=users["admin"],
        reason="Compliance analyst covers the support queue over the holidays",
    )
    approval_decide(
        request_id=done.pk, checker=users["admin2"], decision="approve", reason="Agreed in the risk committee"
    )
    approval_submit(
        action="staff.grant_role",
        subject=users["support"],
        payload={"role": "compliance"},
        maker=users["admin"],
        reason="Support agent moves to the KYC team next week",
    )
    work_item_open(
        queue="risk_alert",
        subject=users["finance"],
        title="Repeated failed sign-ins for staff user finance",
        risk_level="high",
        details={"failed_sign_ins": 6, "window_minutes": 15},
    )
    review = access_review_open_due()  # the quarter's access review, as beat opens it
    assert review is not None
    late = work_items_open_for(queue="access_review", subject=review).get()
    late = work_item_claim(item_id=late.pk, user=users["compliance"])
    late.due_at = timezone.now() - timedelta(hours=2)  # as if the quarter had passed
    late._change_reason = "demo data: overdue"  # type: ignore[attr-defined]
    late.save(update_fields=["due_at", "updated_at"])
    work_items_escalate_overdue()


def _seed_clients() -> None:
    """Clients in each part of the lifecycle, made through the services (their trading accounts
    are provisioned by the worker once `make demo` starts it)."""
    import datetime
    from decimal import Decimal

    from accounts.models import AccountType, Client
    from accounts.services.clients import client_register, client_transition
    from accounts.services.parties import client_party_add

    if Client.objects.exists():
        return
    users = {u.username: u for u in User.objects.filter(username__in=[n for n, _ in DEMO_STAFF])}
    support, compliance = users["support"], users["compliance"]
    types = {t.code: t for t in AccountType.objects.all()}

    def person(
        first: str, last: str, country: str, phone: str, type_code: str, currency: str, **extra: object
    ) -> Client:
        return client_register(
            kind="individual",
            data={
                "first_name": first, "last_name": last, "date_of_birth": datetime.date(1980, 5, 17),
                "nationality": country, "country": country, "email": f"{first.lower()}.{last.lower()}@demo.invalid",
                "phone": phone, "account_type": types[type_code], "base_currency": currency,
                "account_manager": users["support"], "segment": "retail", **extra,
            },
            actor=support,
        )  # fmt: skip

    def move(client: Client, *steps: str) -> None:
        for step in steps:
            client_transition(
                client_id=client.pk, name=step, actor=compliance, reason=f"demo: {step.replace('_', ' ')}"
            )

    def kyc(client: Client, *, accept: bool = True, reject: str | None = None) -> None:
        """Upload every required document (the client goes to review by itself), then review."""
        from kyc.services.documents import document_review

        for document in _upload_required(client, support):
            if document.kind == reject:
                document_review(document_id=document.pk, reviewer=compliance, accept=False, reason_code="blurred",
                                note="demo: the scan is unreadable")  # fmt: skip
            elif accept:
                document_review(document_id=document.pk, reviewer=compliance, accept=True, note="demo: checked")

    person("Amelia", "Hart", "GB", "+447911123456", "standard", "GBP")  # registered, nothing uploaded yet
    kyc(person("Lukas", "Becker", "DE", "+4915123456789", "pro", "EUR", source_of_funds="salary"), accept=False)
    kyc(person("Sofia", "Rossi", "IT", "+393471234567", "swap_free", "EUR", source_of_funds="savings"), accept=False,
        reject="proof_of_address")  # fmt: skip
    noah = person("Noah", "Smith", "US", "+12025550143", "ecn", "USD", tags=["vip"], source_of_funds="business")
    kyc(noah)
    move(noah, "approve")
    chen = person("Chen", "Wei", "SG", "+6581234567", "standard", "USD", source_of_funds="salary")
    kyc(chen)
    move(chen, "approve", "restrict")
    corp = client_register(
        kind="corporate",
        data={
            "legal_name": "Northwind Trading Ltd", "registration_number": "09876543", "country": "GB",
            "address_line": "10 Fleet Street", "city": "London", "postcode": "EC4Y 1AA",
            "email": "ops@northwind.demo.invalid", "phone": "+442079460000", "account_type": types["corporate"],
            "base_currency": "GBP", "segment": "institutional", "source_of_funds": "business",
        },
        actor=support,
    )  # fmt: skip
    client_party_add(client_id=corp.pk, role="director", name="Margaret Hale", actor=support, country="GB")
    client_party_add(
        client_id=corp.pk, role="beneficial_owner", name="Thomas Thornton", actor=support, country="GB",
        ownership_pct=Decimal("75"),
    )  # fmt: skip
    kyc(corp)
    move(corp, "approve")


def _seed_payments() -> None:
    """A funded client, a third-party deposit held for review, and a first withdrawal waiting for
    finance then compliance (once; the PSP's callbacks are signed and stored like real ones)."""
    from accounts.models import Client
    from payments.models import Deposit
    from payments.services.deposits import deposit_initiate
    from payments.services.ledger import wallet_for
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from payments.services.withdrawals import withdrawal_request
    from sim import simpay

    if Deposit.objects.exists():
        return
    noah = Client.objects.filter(first_name="Noah", last_name="Smith").first()
    if noah is None or noah.status != "approved":
        return

    def pay(amount: str, cardholder: str) -> Deposit:
        deposit = deposit_initiate(client=noah, channel="card", amount=amount, currency="USD")
        evt = simpay.checkout_pay(
            order_reference=deposit.reference, amount=deposit.amount, currency="USD", cardholder=cardholder
        )
        delivery = simpay.signed(evt)
        stored, _ = inbound_event_store(provider=simpay.PROVIDER, body=delivery.body, signature=delivery.signature)
        inbound_event_process(event_pk=stored.pk)
        deposit.refresh_from_db()
        return deposit

    funded = pay("5000.00", "NOAH SMITH")
    withdrawal_request(
        client=noah, source=wallet_for(client=noah, currency="USD"), amount="300.00", method="card",
        destination=funded.payer_account, destination_name="Noah Smith",
    )  # fmt: skip
    pay("800.00", "Victor Krum")  # a third party: held in suspense, in the deposit exception queue


def _demo_pdf(lines: list[str]) -> bytes:
    """A small, valid one-page PDF showing the given lines (demo documents only)."""
    text = " ".join(f"({line.replace('(', '').replace(')', '')}) Tj 0 -22 Td" for line in lines)
    stream = f"BT /F1 16 Tf 60 760 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _seed_kyc() -> None:
    """A client who uploaded every document: in review, in the KYC review queue, with real
    (demo) documents to open in the viewer."""
    import datetime

    from accounts.models import AccountType, Client
    from accounts.services.clients import client_register

    if Client.objects.filter(email="maria.garcia@demo.invalid").exists():
        return
    support = User.objects.get(username="support")
    maria = client_register(
        kind="individual",
        data={
            "first_name": "Maria", "last_name": "Garcia", "date_of_birth": datetime.date(1991, 3, 2),
            "nationality": "ES", "country": "ES", "address_line": "Calle Mayor 1", "city": "Madrid",
            "postcode": "28013", "email": "maria.garcia@demo.invalid", "phone": "+34612345678",
            "account_type": AccountType.objects.get(code="standard"), "base_currency": "EUR",
        },
        actor=support,
    )  # fmt: skip
    _upload_required(maria, support)


def _seed_identity_checks() -> None:
    """A client whose passport does not match the profile, then the identity verification
    provider's results of every demo passport (clean ones, and that mismatch in the KYC exception
    queue): requested and sent as the worker would, the simulated provider's signed results stored
    and processed as the webhook would (the worker's later attempts find them done)."""
    import datetime

    from accounts.models import AccountType, Client
    from accounts.services.clients import client_register
    from kyc.identity import identity_verifier_configured
    from kyc.models import IdentityCheck, IdentityCheckStatus
    from kyc.services.identity import identity_check_submit, identity_result_process, identity_result_store
    from sim import idv
    from sim.models import SimIdvNotification

    if not identity_verifier_configured():
        return
    support = User.objects.get(username="support")
    if not Client.objects.filter(email="oliver.brown@demo.invalid").exists():
        oliver = client_register(
            kind="individual",
            data={
                "first_name": "Oliver", "last_name": "Brown", "date_of_birth": datetime.date(1988, 3, 2),
                "nationality": "GB", "country": "GB", "address_line": "4 Queen Street", "city": "Leeds",
                "postcode": "LS1 2TW", "email": "oliver.brown@demo.invalid", "phone": "+447400123456",
                "account_type": AccountType.objects.get(code="standard"), "base_currency": "GBP",
                "source_of_funds": "salary",
            },
            actor=support,
        )  # fmt: skip
        # the passport reads "Oliver Browne", born 3 February: the provider reports both
        _upload_required(
            oliver,
            support,
            names={"proof_of_identity": "passport name-Oliver_Browne dob-1988-02-03.pdf"},
            shown={"proof_of_identity": "OLIVER BROWNE  born 1988-02-03"},
        )
    for check in IdentityCheck.objects.filter(status=IdentityCheckStatus.REQUESTED).order_by("pk"):
        check = identity_check_submit(check_id=check.pk)
        for note in SimIdvNotification.objects.filter(idv_check__reference=check.reference, delivered_at=None):
            body, signature = idv.signed(note.payload)
            stored, new = identity_result_store(body=body, signature=signature)
            if new:
                identity_result_process(result_pk=stored.pk)


DEMO_DOCUMENT_LINES = {
    "proof_of_identity": ["DEMO PASSPORT", "{name}", "No. PAB123456"],
    "proof_of_address": ["DEMO UTILITY BILL", "{name}", "{address}"],
    "suitability_questionnaire": ["SUITABILITY QUESTIONNAIRE", "{name}", "Experience: 3 years FX"],
}


def _upload_required(
    client: Any, support: User, *, names: dict[str, str] | None = None, shown: dict[str, str] | None = None
) -> list[Any]:
    """Upload a demo PDF for each document the client must provide, through the real service
    (``names``: a file name per kind; ``shown``: the name a kind's document shows, if not the client's)."""
    import datetime

    from django.core.files.uploadedfile import SimpleUploadedFile

    from kyc.requirements import REQUIRED
    from kyc.services.documents import document_upload

    uploaded = []
    for kind in REQUIRED[client.kind]:
        lines = DEMO_DOCUMENT_LINES.get(kind, [kind.replace("_", " ").upper(), "{name}"])
        on_it = (shown or {}).get(kind, client.display_name)
        text = [line.format(name=on_it, address=f"{client.address_line} {client.city}") for line in lines]
        extra: dict[str, Any] = (
            {"number": "PAB123456", "issue_date": datetime.date(2021, 6, 1), "expiry_date": datetime.date(2031, 6, 1)}
            if kind == "proof_of_identity"
            else {}
        )
        name = (names or {}).get(kind, f"{kind}.pdf")
        upload = SimpleUploadedFile(name, _demo_pdf(["DEMO DOCUMENT", *text]), content_type="application/pdf")
        uploaded.append(document_upload(client_id=client.pk, kind=kind, upload=upload, actor=support, **extra))
    return uploaded


DEMO_HISTORY_DAYS = 190  # the demo's history (deals, FX rates, introductions, plans) starts this long ago


def _seed_history() -> None:
    """Months of clients, payments and reviews behind the reports' charts (backoffice.demo_history)."""
    from accounts.models import Client
    from backoffice.demo_history import seed_history

    if Client.objects.filter(email__startswith="history").exists():
        return
    seed_history(days=DEMO_HISTORY_DAYS - 10)


def _seed_partners() -> None:
    """A three-level partner tree, demo clients introduced by its partners (carried over from before
    the back office went live), and a change of partner waiting for finance."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Client
    from ib.approval_actions import ACTION
    from ib.models import AttributionSource, Partner
    from ib.services.partners import attribution_open, partner_create
    from ops.services.approvals import approval_submit

    if Partner.objects.exists():
        return
    support = User.objects.get(username="support")
    # Alpha is also a client (its corporate account): commissions are paid out to its wallet.
    northwind = Client.objects.filter(legal_name="Northwind Trading Ltd").first()
    alpha = partner_create(
        name="Alpha Partners Ltd", code="ALPHA", email="desk@alpha.demo.invalid", actor=support, client=northwind
    )
    beta = partner_create(name="Beta Introducers", code="BETA", parent_id=alpha.pk, actor=support)
    gamma = partner_create(name="Gamma Trading Club", code="GAMMA", parent_id=beta.pk, actor=support)
    partner_create(name="Delta Affiliates", code="DELTA", actor=support)
    # the approved (trading) clients first: Gamma's, then Alpha's; then one not yet approved for Beta
    clients = sorted(
        Client.objects.exclude(pk=getattr(northwind, "pk", None)),
        key=lambda c: (c.status not in ("approved", "restricted"), c.pk),
    )
    tree = [alpha, beta, gamma]
    # The demo's clients traded before this back office went live (the simulated six months of
    # deals): their introductions are carried over from then, so that history earns commissions.
    went_live = timezone.now() - timedelta(days=DEMO_HISTORY_DAYS)
    with transaction.atomic():
        for n, client in enumerate(clients[: max(1, len(clients) * 2 // 3)]):
            attribution_open(
                client=client, partner=tree[(n + 2) % 3], valid_from=went_live,
                source=AttributionSource.REFERRAL, campaign=("spring-webinar" if n % 2 else "seo-landing"),
                reason="demo data: introduction carried over from before the back office went live",
            )  # fmt: skip
    unattributed = clients[len(clients) * 2 // 3 :]
    if unattributed:
        approval_submit(
            action=ACTION, subject=unattributed[0],
            payload={"partner": gamma.pk, "effective_from": timezone.localdate().isoformat(), "campaign": "walk-in"},
            maker=support, reason="demo: the client says Gamma Trading Club referred them",
        )  # fmt: skip


def _seed_trade_feed() -> None:
    """Six months of daily FX rates (EUR/USD, GBP/USD, EUR/GBP), six months of trading by the
    approved demo clients on the simulated platform, pulled and processed as the minute's pull does,
    and one deal report file with two refused rows (a trade feed exception). Once."""
    import random
    from datetime import UTC, datetime, time, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import ClientStatus, TradingAccount
    from accounts.services.trading_accounts import trading_account_provision
    from ib.models import DealBatch, FeedSource
    from ib.services.feed import CSV_COLUMNS, deal_batch_process, deal_batch_receive, deals_pull
    from payments.models import FxRate
    from sim.trading import simulate_trading

    if DealBatch.objects.exists():
        return
    today = timezone.now().astimezone(UTC).date()
    rng = random.Random(2026)
    rates = []
    for pair, start in (("EURUSD", 1.08), ("GBPUSD", 1.27), ("EURGBP", 0.85)):
        rate = start
        for back in range(183, -1, -1):
            rate *= 1 + rng.gauss(0, 0.004)
            day = datetime.combine(today - timedelta(days=back), time.min, tzinfo=UTC)
            rates.append(FxRate(base=pair[:3], quote=pair[3:], rate=Decimal(f"{rate:.5f}"), as_of=day, source="demo"))
    FxRate.objects.bulk_create(rates, ignore_conflicts=True)

    accounts = TradingAccount.objects.filter(client__status__in=[ClientStatus.APPROVED, ClientStatus.RESTRICTED])
    for account in accounts.filter(login__isnull=True):  # the worker is not running yet: provision now
        trading_account_provision(account_id=account.pk)
    logins = [a.login for a in accounts.order_by("pk") if a.login]
    if not logins:
        return
    now = timezone.now()
    simulate_trading(start=now - timedelta(days=183), end=now, accounts=logins, seed=2026)
    while deals_pull()["pages"]:
        pass

    reporter = accounts.filter(login__isnull=False).order_by("pk").first()
    assert reporter is not None
    closed = now - timedelta(days=2)
    rows = [
        [f"RPT-{n:04d}", reporter.login, symbol, side, lots, (closed - timedelta(hours=n + 1)).isoformat(),
         (closed + timedelta(minutes=n)).isoformat(), spread, "0.00", "0.00", profit, reporter.currency]
        for n, (symbol, side, lots, spread, profit) in enumerate(
            [("EURUSD", "buy", "1.00", "7.00", "35.10"), ("XAUUSD", "sell", "0.20", "4.00", "-18.60"),
             ("GER40", "buy", "0.50", "2.00", "12.00"), ("GBPUSD", "sell", "-0.30", "2.70", "5.00")]
        )
    ]  # fmt: skip
    rows.append(["RPT-9999", "8000001", "EURUSD", "buy", "0.10", closed.isoformat(), closed.isoformat(), "0.70",
                 "0.00", "0.00", "1.00", "USD"])  # fmt: skip
    text = "\n".join(",".join(r) for r in [list(CSV_COLUMNS), *[[str(v) for v in r] for r in rows]]) + "\n"
    batch = deal_batch_receive(
        source=FeedSource.CSV, raw=text, filename="prime-broker-deal-report.csv", received_by="finance"
    )
    deal_batch_process(batch_id=batch.pk)


DEMO_SHARED_IP = "203.0.113.42"
DEMO_SHARED_DEVICE = "demo-fp-7f3a91c2e4"
# where the demo's travelling client signs in from, in one day (the first two not its home)
DEMO_TRAVEL = ("PT", "MA", "TH")
DEMO_TRAVEL_IPS = ("195.23.1.10", "41.250.2.20")
DEMO_ABROAD = ("NG", "VN")  # the quick exit's sign-in an hour before it (the ABROAD-OUT rule)


def _seed_sign_ins() -> None:
    """Client-area sign-ins of the last week, as the portal reports them: each approved client from
    its own IP address and device, a failed attempt or two, and two clients (Noah Smith and the next
    approved individual) signing in from one IP address on one device, which the LINKED-IP and
    LINKED-DEVICE rules raise alerts on; each placed (by the portal's CDN) in the client's country,
    but one client also signed in from two countries abroad in the last day (MANY-COUNTRIES). Once."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Client, ClientSignIn
    from accounts.services.sign_ins import client_sign_in_record

    if ClientSignIn.objects.exists():
        return
    clients = list(Client.objects.filter(status__in=["approved", "restricted"]).order_by("pk")[:8])
    noah = next((c for c in clients if c.first_name == "Noah" and c.last_name == "Smith"), None)
    partner = next((c for c in clients if c.kind == "individual" and c != noah), None)
    agents = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    )
    now = timezone.now()
    for n, client in enumerate(clients):
        ip, device, agent = f"198.51.100.{20 + n}", f"demo-fp-{client.pk:04d}", agents[n % len(agents)]
        home = str(client.country)  # the portal's CDN places each address in the client's own country
        for days in (6, 3, 1):
            client_sign_in_record(
                client=client, outcome="succeeded", ip_address=ip, user_agent=agent, device_fingerprint=device,
                at=now - timedelta(days=days, hours=n), reported_by="demo", country=home,
            )  # fmt: skip
        if n % 3 == 0:
            client_sign_in_record(
                client=client, outcome="failed", failure_reason="wrong_password", ip_address=f"192.0.2.{50 + n}",
                user_agent=agents[(n + 1) % len(agents)], at=now - timedelta(days=2, hours=n), reported_by="demo",
                country=home,
            )  # fmt: skip
    for client, hours in ((noah, 30), (partner, 5)):
        if client is not None:
            client_sign_in_record(
                client=client, outcome="succeeded", ip_address=DEMO_SHARED_IP, user_agent=agents[0],
                device_fingerprint=DEMO_SHARED_DEVICE, at=now - timedelta(hours=hours), reported_by="demo",
                country=str(noah.country) if noah is not None else "",
            )  # fmt: skip
    # a client whose sign-ins of the last day come from two countries abroad besides its own (the
    # MANY-COUNTRIES rule: three within 24 hours, reached once); one with no withdrawal of late
    traveller = next(
        (c for c in reversed(clients) if c not in (noah, partner) and c.kind == "individual"
         and not c.withdrawals.filter(created_at__gte=now - timedelta(days=2)).exists()),
        None,
    )  # fmt: skip
    if traveller is not None:
        abroad = [code for code in DEMO_TRAVEL if code != str(traveller.country)][:2]
        for hours, (ip, code) in zip((20, 19), zip(DEMO_TRAVEL_IPS, abroad, strict=False), strict=False):
            client_sign_in_record(
                client=traveller, outcome="succeeded", ip_address=ip, user_agent=agents[2],
                device_fingerprint=f"demo-fp-{traveller.pk:04d}", at=now - timedelta(hours=hours), reported_by="demo",
                country=code,
            )  # fmt: skip


def _seed_risk() -> None:
    """Monitoring rules proposed by risk and approved by risk2; an injected deposit-then-withdrawal
    (a client deposits 2,000 and asks for 1,900 back minutes later, without trading) and structured
    deposits just under 10,000 (Northwind) that the rules raise alerts on, with their evidence; the
    structuring alert decided as a true match; the quick exit also follows a sign-in from abroad, and
    a client signed in from three countries in a day (the country rules' alerts); a pending rule
    change for risk2 with its 30-day backtest; open positions on the platform with their open prices,
    Northwind moved to the A-book, an EURUSD limit in lots and an XAUUSD limit in notional that the
    positions breach, and a USDJPY position no FX rate converts (a missing-rate work item). Once."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Client
    from accounts.services.sign_ins import client_sign_in_record
    from ops.services.approvals import approval_decide
    from payments.models import ChargebackCase
    from payments.services.deposits import deposit_initiate
    from payments.services.ledger import wallet_for
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from payments.services.withdrawals import withdrawal_request
    from risk.models import RiskRule
    from risk.services import (
        account_routing_propose,
        alert_dispose,
        exposure_check,
        exposure_limit_set,
        instruments_refresh,
        positions_refresh,
        rule_evaluate,
        rule_propose,
        rule_version_propose,
    )
    from sim import simpay
    from sim.platform import SimulatedPlatform

    if RiskRule.objects.exists():
        return
    noah = Client.objects.filter(first_name="Noah", last_name="Smith", status="approved").first()
    corp = Client.objects.filter(legal_name="Northwind Trading Ltd", status="approved").first()
    if noah is None or corp is None:
        return
    maker, checker = User.objects.get(username="risk"), User.objects.get(username="risk2")

    def pay(client: Client, amount: str, cardholder: str, currency: str) -> Any:
        deposit = deposit_initiate(client=client, channel="card", amount=amount, currency=currency)
        evt = simpay.checkout_pay(
            order_reference=deposit.reference, amount=deposit.amount, currency=currency, cardholder=cardholder
        )
        delivery = simpay.signed(evt)
        stored, _ = inbound_event_store(provider=simpay.PROVIDER, body=delivery.body, signature=delivery.signature)
        inbound_event_process(event_pk=stored.pk)
        deposit.refresh_from_db()
        return deposit

    # the injected patterns: a client of the months of history (Noah has a third party's deposit on
    # hold, which stops his withdrawals) deposits and asks for nearly all of it back at once
    exiting = (
        Client.objects.filter(status="approved", kind="individual", base_currency__in=["USD", "EUR"])
        .exclude(pk=noah.pk)
        .exclude(deposits__status="review")
        .exclude(pk__in=ChargebackCase.objects.values("client_id"))  # a chargeback stops its withdrawals
        .exclude(sign_ins__country__in=DEMO_TRAVEL)  # the traveller: its own alert
        .order_by("pk")
        .first()
    )
    if exiting is None:
        return
    funded = pay(exiting, "2000.00", exiting.display_name.upper(), exiting.base_currency)
    # it signed in from abroad an hour before asking for the money back (the ABROAD-OUT rule)
    client_sign_in_record(
        client=exiting, outcome="succeeded", ip_address="102.89.4.40", device_fingerprint=f"demo-fp-{exiting.pk:04d}",
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        at=timezone.now() - timedelta(hours=1), reported_by="demo",
        country=next(code for code in DEMO_ABROAD if code != str(exiting.country)),
    )  # fmt: skip
    withdrawal_request(
        client=exiting, source=wallet_for(client=exiting, currency=exiting.base_currency), amount="1900.00",
        method="card", destination=funded.payer_account, destination_name=exiting.display_name,
    )  # fmt: skip
    for amount in ("9600.00", "9800.00", "9900.00"):
        pay(corp, amount, "NORTHWIND TRADING LTD", "GBP")

    rules = [
        ("QUICK-EXIT", "Deposit then quick withdrawal", "deposit_then_withdrawal",
         {"min_pct": 80, "within_hours": 24, "max_lots": "0.10"}),
        ("STRUCTURING", "Deposits just under 10,000 GBP", "structuring",
         {"direction": "deposit", "threshold": "10000", "band_pct": 10, "min_count": 3, "window_days": 7,
          "currency": "GBP"}),
        ("VELOCITY-DEP", "Many deposits in a day", "velocity", {"direction": "deposit", "count": 6, "window_hours": 24}),
        ("SHARED-CARD", "One card on many clients", "card_many_clients", {"min_clients": 3, "window_days": 30}),
        ("SCALPING", "Very short hold times", "short_hold", {"max_seconds": 30, "min_deals": 20, "window_days": 1}),
        ("LINKED-IP", "Clients signing in from one IP address", "linked_ip", {"min_clients": 2, "window_days": 30}),
        ("LINKED-DEVICE", "Clients signing in on one device", "linked_device",
         {"min_clients": 2, "window_days": 30, "devices": "fingerprint"}),
        ("NEW-DEVICE-OUT", "New device, then a withdrawal", "new_device_withdrawal",
         {"within_hours": 24, "history_days": 90, "min_amount": "500", "currency": "EUR"}),
        ("ROUND-TRIP", "In and straight out of a trading account", "transfer_round_trip",
         {"min_pct": 80, "within_hours": 24, "max_lots": "0.10", "min_amount": "1000", "currency": "EUR"}),
        ("MANY-COUNTRIES", "Sign-ins from three countries in a day", "sign_in_many_countries",
         {"min_countries": 3, "window_hours": 24}),
        ("ABROAD-OUT", "Withdrawal after a sign-in from abroad", "sign_in_country_withdrawal",
         {"within_hours": 24, "min_amount": "500", "currency": "EUR"}),
    ]  # fmt: skip
    for code, name, kind, params in rules:
        request = rule_propose(
            actor=maker, code=code, name=name, kind=kind, params=params, valid_from=timezone.now(), valid_to=None,
            note="", reason="Monitoring programme, first rules",
        )  # fmt: skip
        approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="Backtest reviewed")
    now = timezone.now()
    for code in ("QUICK-EXIT", "STRUCTURING", "LINKED-IP", "LINKED-DEVICE", "MANY-COUNTRIES", "ABROAD-OUT"):
        rule_evaluate(rule_id=RiskRule.objects.get(code=code).pk, start=now - timedelta(days=30), end=now)
    structuring = RiskRule.objects.get(code="STRUCTURING").alerts.get()
    alert_dispose(
        alert_id=structuring.pk, actor=checker, disposition="true_match",
        reason="Three card deposits just under the reporting threshold in a day; treasury could not explain the split",
    )  # fmt: skip
    rule_version_propose(
        actor=maker, rule=RiskRule.objects.get(code="QUICK-EXIT"), params={"min_pct": 50, "within_hours": 48},
        valid_from=timezone.now() + timedelta(hours=1), valid_to=None, note="Catch partial exits too",
        reason="Exits of half the deposit were missed last quarter",
    )  # fmt: skip

    # exposure: open positions on the platform (with their open prices), Northwind to the A-book, a
    # lots limit and a notional limit the positions breach; a USDJPY position whose yen the FX rates
    # do not cover (the dashboard says so, and the exposure check puts the JPY/USD rate in the queue)
    for client, positions in ((noah, [("EURUSD", "8.00", "1.07900"), ("XAUUSD", "-3.00", "2668.50"),
                                      ("USDJPY", "2.00", "150.800")]),
                              (corp, [("EURUSD", "4.00", "1.08100"), ("GBPUSD", "-2.50", "1.26500")])):  # fmt: skip
        account = client.trading_accounts.filter(login__isnull=False).first()
        if account is None:
            continue
        for symbol, volume, opened_at in positions:
            SimulatedPlatform.open_position(account.login, symbol, Decimal(volume), open_price=Decimal(opened_at))
    corp_account = corp.trading_accounts.filter(login__isnull=False).first()
    if corp_account is not None:
        routing = account_routing_propose(
            actor=maker, account=corp_account, book="a", leverage=None, reason="Institutional flow: hedge it"
        )
        approval_decide(request_id=routing.pk, checker=checker, decision="approve", reason="Agreed")
    positions_refresh()
    instruments_refresh()
    exposure_limit_set(actor=maker, symbol="EURUSD", max_net_lots="10", reason="Risk appetite for EURUSD")
    exposure_limit_set(
        actor=maker, symbol="XAUUSD", max_net_lots=None, max_net_notional="500000", notional_currency="USD",
        reason="Risk appetite for gold, in money",
    )  # fmt: skip
    exposure_check()


def _seed_sar() -> None:
    """A suspicious activity report on Northwind's structured deposits (the STRUCTURING alert):
    drafted by compliance, approved by compliance2 on its content's sha256, and recorded as filed
    with the regulator's reference. Once."""
    from ops.services.approvals import approval_decide
    from risk.models import RiskAlert, SuspiciousActivityReport
    from risk.sar import sar_draft, sar_record_filing, sar_submit

    alert = RiskAlert.objects.filter(rule__code="STRUCTURING", client__isnull=False).first()
    if alert is None or SuspiciousActivityReport.objects.exists():
        return
    maker, checker = User.objects.get(username="compliance"), User.objects.get(username="compliance2")
    sar = sar_draft(
        actor=maker, origin=alert,
        narrative="Northwind Trading Ltd paid in three card deposits of 9,600, 9,800 and 9,900 GBP within a day, "
        "each just under the 10,000 reporting threshold. The client's treasury could not explain why one payment "
        "was split, and the money has not been traded. We suspect structuring to avoid the threshold.",
    )  # fmt: skip
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="Structuring confirmed by risk; please approve for filing")
    approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="Narrative and evidence agree")
    sar_record_filing(sar_id=sar.pk, actor=maker, regulator_reference="FIU-2026-004211")


def _seed_commissions() -> None:
    """Partner commissions over the demo's history: a plan agreed before go-live that Alpha's tree
    follows, a commission run per past month (run, posted to the ledger, released after the hold
    period), then the open work: a payout to Alpha waiting for a second finance officer, a disputed
    statement line in the IB dispute queue, and a new plan version waiting for finance with last
    month's comparison. Once."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from audit.actions import AuditAction
    from ib.models import (
        CommissionLine,
        CommissionPlan,
        LineKind,
        Partner,
        PartnerPlan,
        PlanRule,
        PlanVersion,
    )
    from ib.services.disputes import dispute_raise
    from ib.services.money import commission_lines_post, commission_payout_request, commissions_release_due
    from ib.services.plans import plan_rules_clean, plan_version_propose
    from ib.services.runs import commission_run_execute, commission_run_start

    if CommissionPlan.objects.exists() or not Partner.objects.filter(code="ALPHA").exists():
        return
    users = {u.username: u for u in User.objects.filter(username__in=["support", "finance"])}
    today = timezone.localdate()
    start = today - timedelta(days=DEMO_HISTORY_DAYS)
    rules = [
        {"kind": "per_lot", "symbol_group": "fx", "rate": "6.00", "tier_shares": "60/25/15", "client_rebate_pct": "10",
         "cap_per_trade": "60.00", "min_hold_seconds": "60"},
        {"kind": "spread_pct", "symbol_group": "metals", "rate": "20", "tier_shares": "60/25/15"},
        {"kind": "commission_pct", "symbol_group": "indices", "rate": "30", "tier_shares": "100"},
    ]  # fmt: skip
    # The agreement in force before go-live, carried over as it was (a version that starts in the
    # past cannot be proposed: it would change what was earned; this one earned nothing here yet).
    with transaction.atomic():
        plan = CommissionPlan.objects.create(code="STD-IB", name="Standard IB agreement", currency="EUR", hold_days=7)
        version = PlanVersion.objects.create(
            plan=plan, number=1, valid_from=start, note="Carried over from the agreement signed before go-live."
        )
        # the same checks and parsing as a proposed version's rules (shares adding up to 100, ...)
        PlanRule.objects.bulk_create(PlanRule(version=version, **fields) for fields in plan_rules_clean(rules))
        for partner in Partner.objects.filter(code__in=["ALPHA", "BETA", "GAMMA"]):
            PartnerPlan.objects.create(partner=partner, plan=plan, valid_from=start)
        audit_record(
            action=AuditAction.PLAN_VERSION_ADDED, subject=plan,
            after={"version": 1, "valid_from": start.isoformat(), "rules": len(rules), "followers": 3},
            reason="demo data: the partner agreement in force before the back office went live",
        )  # fmt: skip

    month = start.replace(day=1)
    while month <= today:
        end = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), today - timedelta(days=1))
        run = commission_run_start(period_start=max(month, start), period_end=end, actor=users["finance"])
        commission_run_execute(run_id=run.pk)
        month = (month + timedelta(days=32)).replace(day=1)
    commission_lines_post()
    commissions_release_due(today=today)

    alpha = Partner.objects.get(code="ALPHA")
    commission_payout_request(
        partner=alpha, currency="EUR", actor=users["finance"], reason="demo: monthly payout of Alpha's commissions"
    )
    line = (
        CommissionLine.objects.filter(kind=LineKind.DEAL, partner__code="GAMMA", deal__isnull=False)
        .order_by("-earned_on", "id")
        .first()
    )
    if line is not None:
        dispute_raise(
            line=line, actor=users["support"], claimed_amount=line.amount + Decimal("2.40"),
            claim="Gamma says this deal should have paid the full 6.00 per lot before the client rebate.",
        )  # fmt: skip
    first_of_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    plan_version_propose(
        actor=users["support"], plan=plan, valid_from=first_of_next,
        note="Raise FX majors to 7.00 per lot to win back Beta's volume.",
        rules=[{**rules[0], "rate": "7.00"}, *rules[1:]],
        reason="demo: Beta asked for a better FX rate; finance checks last month's comparison",
    )  # fmt: skip


def _seed_chargeback() -> None:
    """A chargeback: a client introduced by a partner deposits by card, earns the partner a CPA
    (posted to the ledger); then the cardholder's bank disputes the payment. The
    PSP's signed ``dispute.opened`` callback, stored and applied like a real one, opens the case in
    the chargeback queue: the amount comes out of the wallet (the rest is owed by the client), the
    client's withdrawals stop and the partner's CPA is clawed back. Once."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from ib.models import Attribution, CommissionLine, LineKind, LineStatus
    from ib.services.money import commission_lines_post
    from payments.models import ChargebackCase
    from payments.services.deposits import deposit_initiate
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from sim import simpay

    if ChargebackCase.objects.exists():
        return
    attribution = (
        Attribution.objects.filter(valid_to__isnull=True, client__status="approved")
        .exclude(client__first_name="Noah")
        .exclude(client__commission_lines__kind=LineKind.CPA)
        .select_related("client", "partner")
        .order_by("client_id")
        .first()
    )
    if attribution is None:
        return
    client, partner = attribution.client, attribution.partner

    def signed_callback(evt: dict[str, Any]) -> None:
        delivery = simpay.signed(evt)
        stored, _ = inbound_event_store(provider=simpay.PROVIDER, body=delivery.body, signature=delivery.signature)
        inbound_event_process(event_pk=stored.pk)

    deposit = deposit_initiate(client=client, channel="card", amount="1500.00", currency="EUR")
    signed_callback(
        simpay.checkout_pay(
            order_reference=deposit.reference, amount=deposit.amount, currency="EUR", cardholder=client.display_name
        )
    )
    deposit.refresh_from_db()
    today = timezone.localdate()
    with transaction.atomic():  # the CPA the first deposit earned the partner (as the CPA run writes it)
        CommissionLine.objects.create(
            kind=LineKind.CPA, client=client, partner=partner, level=0, earned_on=today, base_amount=Decimal("200.00"),
            base_currency="EUR", amount=Decimal("200.00"), currency="EUR", tree=[partner.pk],
            status=LineStatus.PENDING, available_on=today + timedelta(days=7), qualifying_deposit=deposit,
        )  # fmt: skip
    commission_lines_post()
    signed_callback(
        simpay.dispute_open(
            payment_id=deposit.external_id or "", amount=Decimal("1500.00"), reason="fraudulent", due_days=6
        ).event
    )


def _seed_followups() -> None:
    """Clients in follow-up sequences at different steps (/followups/), with e-mail, SMS and in-app
    history in their interaction logs: Amelia (registered, nothing uploaded) was reminded by e-mail
    and SMS and answered the SMS (once the reply is processed, her reminders stop and a person is
    asked to read it); Olivia never answered, her SMS bounced, and a person now has the
    work item; Sofia has an in-app reminder for the document review asked again for; Mateo's
    follow-up was stopped by support with a reason. The steps run through the beat job's service at
    the moments they fell due; the SMS go through the simulated provider, whose delivery results and
    the reply reach the demo's web server by its signed callback once the worker runs."""
    import datetime
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import AccountType, Client
    from accounts.services.clients import client_register
    from ops.models import EnrollmentStatus, FollowUpEnrollment, Interaction, InteractionChannel, InteractionStatus
    from ops.services.followups import followup_stop, followups_run_due
    from ops.services.interactions import interaction_send
    from sim import sms as simsms

    if (
        Client.objects.filter(email="olivia.brown@demo.invalid").exists()
        or not Client.objects.filter(email="amelia.hart@demo.invalid").exists()
    ):
        return
    support = User.objects.get(username="support")
    standard = AccountType.objects.get(code="standard")

    def register(first: str, last: str, phone: str) -> Client:
        return client_register(
            kind="individual",
            data={
                "first_name": first, "last_name": last, "date_of_birth": datetime.date(1988, 9, 14),
                "nationality": "GB", "country": "GB", "email": f"{first.lower()}.{last.lower()}@demo.invalid",
                "phone": phone, "account_type": standard, "base_currency": "GBP",
            },
            actor=support,
        )  # fmt: skip

    def enrolled(client: Client, days_ago: int) -> FollowUpEnrollment:
        """The client's running follow-up, as if it had started ``days_ago`` days ago."""
        enrollment = FollowUpEnrollment.objects.get(
            subject_type__model="client", subject_id=str(client.pk), status=EnrollmentStatus.ACTIVE
        )
        enrollment.started_at -= timedelta(days=days_ago)
        assert enrollment.next_due_at is not None
        enrollment.next_due_at -= timedelta(days=days_ago)
        enrollment._change_reason = "demo data: started earlier"  # type: ignore[attr-defined]
        enrollment.save(update_fields=["started_at", "next_due_at"])
        return enrollment

    amelia = Client.objects.get(email="amelia.hart@demo.invalid")
    olivia = register("Olivia", "Brown", "+447911130000")  # a number the simulated provider cannot reach
    mateo = register("Mateo", "Silva", "+447911124417")
    enrolled(amelia, 8)
    enrolled(olivia, 11)
    sofia = Client.objects.filter(email="sofia.rossi@demo.invalid").first()
    if (
        sofia is not None
        and FollowUpEnrollment.objects.filter(
            subject_id=str(sofia.pk), sequence__code="additional_documents", status=EnrollmentStatus.ACTIVE
        ).exists()
    ):
        enrolled(sofia, 4)
    now = timezone.now()
    for days_ago in (7, 4, 0):  # beat's runs, at the moments the steps fell due
        followups_run_due(now=now - timedelta(days=days_ago))
    for sms in Interaction.objects.filter(
        channel=InteractionChannel.SMS, status=InteractionStatus.QUEUED, subject_id__in=[str(amelia.pk), str(olivia.pk)]
    ):
        interaction_send(interaction_id=sms.pk)  # through the simulated provider now (the worker would)
    answered = Interaction.objects.filter(channel=InteractionChannel.SMS, subject_id=str(amelia.pk)).first()
    if answered is not None and answered.provider_message_id:
        simsms.client_reply(
            message_id=answered.provider_message_id, body="Sorry, I was travelling. I'll upload my passport tonight."
        )
    enrollment = FollowUpEnrollment.objects.get(subject_id=str(mateo.pk), status=EnrollmentStatus.ACTIVE)
    followup_stop(
        enrollment_id=enrollment.pk, actor=support, reason="The client phoned: his documents come by post this week."
    )


DEMO_AGENT = "demo-assistant"


def _seed_agents() -> dict[str, str]:
    """The built-in agents, and an outside agent to connect any MCP client with (reads and every
    proposal; people decide). Their tokens derive from the secret key, so a rerun prints the same."""
    from agents.approval_actions import AGENT_GRANT
    from agents.models import Agent, Scope
    from agents.services import agent_register, builtin_agents_ensure, builtin_token, token_hash
    from ops.models import ApprovalRequest, ApprovalStatus
    from ops.services.approvals import approval_decide

    admin = User.objects.get(username="admin")
    agents = builtin_agents_ensure(owner=admin, actor=admin)
    if not Agent.objects.filter(name=DEMO_AGENT).exists():
        agent, _ = agent_register(
            name=DEMO_AGENT,
            owner=admin,
            purpose="Demo: an outside assistant (any MCP client) that reads queues, clients and documents and proposes.",
            scopes=[s.value for s in Scope if s != Scope.READ_CLIENT_CONTACTS],
            actor=admin,
            model_name="any MCP client",
        )
        Agent.objects.filter(pk=agent.pk).update(token_hash=token_hash(builtin_token(DEMO_AGENT)), token_prefix="demo")  # noqa: S106
    # each asked for by admin, approved by admin2 (letting an agent run is maker-checker)
    checker = User.objects.get(username="admin2")
    for request in ApprovalRequest.objects.filter(action=AGENT_GRANT, status=ApprovalStatus.PENDING):
        approval_decide(
            request_id=request.pk, checker=checker, decision="approve", reason="demo: purpose and scopes checked"
        )
    return {a.name: builtin_token(a.name) for a in [*agents, Agent.objects.get(name=DEMO_AGENT)]}
