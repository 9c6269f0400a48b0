"""The client-area API (/api/v1/client-area/): server to server, for the broker's client portal.

The portal signs its own end users in and calls with its ``client_area`` key; the key reaches every
client of the broker (``accounts.selectors.client_area_client_get``), and every change it makes is
audited to the key (the authentication sets the acting actor). It crosses the domain apps, so it
lives here, above them: each operation parses its input, calls the one service or selector that
staff use too (with no staff actor: the client's own channel), and answers. The rules are the
services': what the client's status allows, withdrawal pre-checks, holds and approval queues.

Money goes out as a decimal string with the currency's decimals and as an integer of minor units;
it comes in as a decimal string (a JSON number, or too many decimals, is a 400 naming the field).
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import ClientSerializer
from accounts.capabilities import MATRIX, Capability, client_can
from accounts.errors import ClientError
from accounts.models import Client, ClientKind, ClientSignIn, ClientStatus, SignInOutcome, TradingAccount
from accounts.selectors import client_area_client_get, client_sign_ins
from accounts.services.clients import client_register
from accounts.services.sign_ins import SignInError, client_sign_in_record
from backoffice.api import StrictInput, object_id
from backoffice.idempotency import HEADER, IdempotentWritesMixin
from kyc.errors import KycError
from kyc.models import Document, DocumentKind
from kyc.selectors import kyc_checklist, kyc_status, rejection_for_client
from kyc.services.documents import document_upload
from ops.api import requires_scope
from ops.models import ApiKey, ApiKeyOwnerKind, Interaction
from ops.selectors import client_notifications
from payments.api import PaymentProblem
from payments.currencies import minor_units
from payments.errors import PaymentError
from payments.models import AccountKind, Channel, Deposit, EntryKind, LedgerAccount, Posting, Withdrawal
from payments.selectors import client_deposits, client_ledger_accounts, client_postings, client_withdrawals
from payments.services.deposit_start import deposit_start_bank, deposit_start_card
from payments.services.ledger import trading_ledger_account_for, wallet_for
from payments.services.transfers import internal_transfer
from payments.services.withdrawals import CLIENT_REASONS, withdrawal_request

SCOPE = "client_area"
NOT_CLIENT_AREA = "Only the client area's API key calls the client-area API."
NO_TRADING_ACCOUNT = "The client has no trading account with login {login!r}."
RETURN_URL_REQUIRED = "A card deposit needs the URL the PSP's checkout sends the payer back to."
CURRENCY_NOT_ACCOUNTS = "Trading account {login} holds {account}, not {currency}."
NO_WALLET_YET = "The client has no {currency} wallet yet (nothing was deposited in {currency})."
NOTHING_IN_TRADING = "Trading account {login} holds no money in the ledger yet."
CHECKLIST_STATES = {
    "missing": "Missing",
    "pending": "Pending review",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "expiring": "Accepted, expiring soon",
    "expired": "Expired",
}
CLIENT_ID = OpenApiParameter(
    "client_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The client's id (``id`` of the registration)."
)


class Refused(ValidationError):
    """A refusal as problem+json naming the field, with its own status (409: the status does not
    allow it; 422: refused on its merits)."""

    def __init__(self, field: str, message: str, status_code: int = 400) -> None:
        super().__init__({field: [message]}, code="refused")
        self.status_code = status_code


def _kyc_refused(exc: KycError) -> Refused:
    return Refused(exc.field or "kind", str(exc), exc.status)


class ClientAreaCaller(BasePermission):
    """The caller is the client area's own key (a staff member's session is no portal)."""

    message = NOT_CLIENT_AREA

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        return isinstance(key, ApiKey) and key.owner_kind == ApiKeyOwnerKind.CLIENT_AREA


def _money(amount: Decimal, currency: str) -> tuple[str, int]:
    """(decimal string with the currency's decimals, integer of minor units)."""
    places = minor_units(currency)
    exact = amount.quantize(Decimal(1).scaleb(-places))
    return f"{exact:f}", int(exact.scaleb(places))


def _service_key(request: Request, what: str) -> str:
    """The services' own idempotency key for this call: the caller's Idempotency-Key (scoped to the
    API key, so two portals never share one), or a fresh one."""
    raw = request.headers.get(HEADER)
    key: ApiKey = request.auth  # type: ignore[assignment]
    mine = hashlib.sha256(raw.encode()).hexdigest()[:40] if raw else uuid.uuid4().hex
    return f"client-area:{key.prefix}:{what}:{mine}"


# --- what goes out ----------------------------------------------------------------------------


class CapabilityOut(serializers.Serializer):
    code = serializers.CharField(help_text='e.g. "withdraw"')
    label = serializers.CharField(help_text='e.g. "Withdraw"')  # type: ignore[assignment]
    allowed = serializers.BooleanField()


class TradingAccountOut(serializers.Serializer):
    login = serializers.CharField(allow_null=True, help_text="null while the account is being opened")
    account_type = serializers.CharField()
    currency = serializers.CharField()
    leverage = serializers.IntegerField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    balance = serializers.CharField(help_text='decimal string, e.g. "250.00"')
    balance_minor = serializers.IntegerField(help_text="the balance in minor units (cents), e.g. 25000")


class WalletOut(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.CharField()
    balance_minor = serializers.IntegerField()
    available = serializers.CharField(help_text="the balance less what withdrawals in progress hold")
    available_minor = serializers.IntegerField()


class ClientOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    kind = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.CharField()
    status = serializers.ChoiceField(choices=ClientStatus.choices)
    status_display = serializers.CharField()
    kyc_status = serializers.CharField(help_text="verified, rejected, in_review or documents_missing")
    capabilities = CapabilityOut(many=True, help_text="what the client's status allows now")
    trading_accounts = TradingAccountOut(many=True)
    wallets = WalletOut(many=True)
    created_at = serializers.DateTimeField()


def _client_out(client: Client) -> dict[str, Any]:
    accounts = list(client_ledger_accounts(client))
    by_trading = {a.trading_account_id: a for a in accounts if a.trading_account_id}
    trading = []
    for ta in client.trading_accounts.select_related("account_type").order_by("id"):
        ledger = by_trading.get(ta.pk)
        balance = _money(ledger.balance.ledger if ledger else Decimal(0), ta.currency)
        trading.append(
            {"login": ta.login, "account_type": ta.account_type.name, "currency": ta.currency, "leverage": ta.leverage,
             "status": ta.status, "status_display": ta.get_status_display(), "balance": balance[0],
             "balance_minor": balance[1]}
        )  # fmt: skip
    wallets = []
    for account in accounts:
        if account.kind == AccountKind.CLIENT_WALLET:
            held = _money(account.balance.ledger, account.currency)
            available = _money(account.balance.available, account.currency)
            wallets.append(
                {"currency": account.currency, "balance": held[0], "balance_minor": held[1],
                 "available": available[0], "available_minor": available[1]}
            )  # fmt: skip
    allowed = MATRIX[ClientStatus(client.status)]
    return {
        "id": client.pk, "reference": client.reference, "kind": client.kind, "display_name": client.display_name,
        "email": client.email, "status": client.status, "status_display": client.get_status_display(),
        "kyc_status": kyc_status(client),
        "capabilities": [
            {"code": c.value, "label": c.value.replace("_", " ").capitalize(), "allowed": c in allowed}
            for c in Capability
        ],
        "trading_accounts": trading, "wallets": wallets, "created_at": client.created_at,
    }  # fmt: skip


class DocumentOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_display = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    original_name = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    expiry_date = serializers.DateField(allow_null=True)
    rejection_reason = serializers.CharField(help_text="why it was rejected, as the client is told (or empty)")
    rejection_note = serializers.CharField(help_text='the reviewer\'s words to the client (reason "other" only)')


def _document_out(document: Document) -> dict[str, Any]:
    told = rejection_for_client(document)
    return {
        "id": document.pk, "kind": document.kind, "kind_display": document.get_kind_display(),
        "status": document.status, "status_display": document.get_status_display(),
        "original_name": document.original_name, "uploaded_at": document.uploaded_at,
        "reviewed_at": document.reviewed_at, "expiry_date": document.expiry_date,
        "rejection_reason": told.reason, "rejection_note": told.note,
    }  # fmt: skip


class ChecklistItemOut(serializers.Serializer):
    kind = serializers.CharField()
    kind_display = serializers.CharField()
    state = serializers.CharField(help_text="missing, pending, accepted, rejected or expiring")
    state_display = serializers.CharField()
    document = serializers.IntegerField(allow_null=True, help_text="the latest document's id")
    rejection_reason = serializers.CharField()
    rejection_note = serializers.CharField()


class ChecklistOut(serializers.Serializer):
    client = serializers.IntegerField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    kyc_status = serializers.CharField()
    items = ChecklistItemOut(many=True)


class DepositBankOut(serializers.Serializer):
    beneficiary = serializers.CharField()
    iban = serializers.CharField()
    bic = serializers.CharField()
    reference = serializers.CharField(help_text="what the payer writes on the transfer")


class DepositOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    channel = serializers.CharField()
    channel_display = serializers.CharField()
    amount = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    trading_account = serializers.CharField(allow_null=True, help_text="login credited, or null: the wallet")
    status = serializers.CharField()
    status_display = serializers.CharField()
    checkout_url = serializers.CharField(help_text="card: the PSP's checkout page to send the payer to")
    paid_with = serializers.CharField(help_text="the card (fingerprint) or account (IBAN) it was paid from, once paid")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class DepositStartedOut(DepositOut):
    bank_details = DepositBankOut(allow_null=True, help_text="bank: where to pay and with which reference")


def _deposit_out(deposit: Deposit) -> dict[str, Any]:
    amount = _money(deposit.amount, deposit.currency)
    return {
        "id": deposit.pk, "reference": deposit.reference, "channel": deposit.channel,
        "channel_display": deposit.get_channel_display(), "amount": amount[0], "amount_minor": amount[1],
        "currency": deposit.currency, "trading_account": deposit.trading_account.login if deposit.trading_account else None,
        "status": deposit.status, "status_display": deposit.get_status_display(),
        "checkout_url": deposit.checkout_url, "paid_with": deposit.payer_account, "created_at": deposit.created_at, "completed_at": deposit.completed_at,
    }  # fmt: skip


class WithdrawalOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    amount = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    paid_from = serializers.CharField(help_text='"wallet" or the trading account login')
    method = serializers.CharField()
    method_display = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    reason = serializers.CharField(help_text="why it was rejected, as the client is told (or empty)")
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


def _withdrawal_out(w: Withdrawal) -> dict[str, Any]:
    amount = _money(w.amount, w.currency)
    trading = w.source.trading_account
    return {
        "id": w.pk, "reference": w.reference, "amount": amount[0], "amount_minor": amount[1], "currency": w.currency,
        "paid_from": (trading.login or "") if trading else "wallet", "method": w.method,
        "method_display": w.get_method_display(), "status": w.status, "status_display": w.get_status_display(),
        "reason": CLIENT_REASONS.get(w.reason_code, "") if w.reason_code else "", "created_at": w.created_at,
        "paid_at": w.paid_at,
    }  # fmt: skip


class TransferOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="the ledger entry")
    direction = serializers.CharField()
    trading_account = serializers.CharField()
    amount = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class TransactionOut(serializers.Serializer):
    id = serializers.IntegerField()
    entry = serializers.IntegerField()
    kind = serializers.CharField()
    description = serializers.CharField()
    account = serializers.CharField(help_text='"wallet" or the trading account login')
    amount = serializers.CharField(help_text="signed: positive adds to the account, negative takes from it")
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


def _account_name(account: LedgerAccount) -> str:
    trading = account.trading_account
    return (trading.login or str(trading.pk)) if trading is not None else "wallet"


def _transaction_out(posting: Posting) -> dict[str, Any]:
    # client accounts are what the broker owes: a credit (negative posting) adds to the client's money
    amount = _money(-posting.amount, posting.currency)
    return {
        "id": posting.pk, "entry": posting.entry_id, "kind": posting.entry.kind,
        "description": EntryKind(posting.entry.kind).label, "account": _account_name(posting.account),
        "amount": amount[0], "amount_minor": amount[1], "currency": posting.currency,
        "created_at": posting.entry.created_at,
    }  # fmt: skip


class NotificationOut(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    channel_display = serializers.CharField()
    template = serializers.CharField()
    template_display = serializers.CharField(help_text='what kind of message, e.g. "Withdrawal received"')
    title = serializers.CharField()
    body = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)


def _notification_out(i: Interaction) -> dict[str, Any]:
    template = i.template or ""
    return {
        "id": i.pk, "channel": i.channel, "channel_display": i.get_channel_display(), "template": template,
        "template_display": template.rpartition(".")[2].replace("_", " ").capitalize(), "title": i.title,
        "body": i.body, "status": i.status, "status_display": i.get_status_display(), "created_at": i.created_at,
        "sent_at": i.sent_at,
    }  # fmt: skip


class SignInOut(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=SignInOutcome.choices)
    outcome_display = serializers.CharField()
    failure_reason = serializers.CharField()
    ip_address = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    device_id = serializers.CharField(help_text="the fingerprint sent, or ua: and a hash of the user agent")
    country = serializers.CharField(help_text='ISO 3166-1 alpha-2, e.g. "DE"; empty when the portal did not say')
    country_name = serializers.CharField(help_text='e.g. "Germany"; empty when the portal did not say')


def _sign_in_out(s: ClientSignIn) -> dict[str, Any]:
    return {
        "id": s.pk, "at": s.at, "outcome": s.outcome, "outcome_display": s.get_outcome_display(),
        "failure_reason": s.failure_reason, "ip_address": s.ip_address, "user_agent": s.user_agent,
        "device_id": s.device_id, "country": s.country.code or "", "country_name": s.country.name or "",
    }  # fmt: skip


# --- what comes in ------------------------------------------------------------------------------


class RegistrationIn(StrictInput, ClientSerializer):
    """Staff registration's fields and checks, less what only staff set (manager, segment, tags)."""

    account_manager = None  # type: ignore[assignment]
    trading_accounts = None  # type: ignore[assignment]
    display_name = None  # type: ignore[assignment]

    class Meta(ClientSerializer.Meta):
        fields = [
            "kind", "first_name", "last_name", "date_of_birth", "nationality", "legal_name", "registration_number",
            "country", "address_line", "city", "postcode", "email", "phone", "account_type", "base_currency",
            "referral_code", "campaign",
        ]  # fmt: skip
        read_only_fields: list[str] = []


class DocumentIn(StrictInput, serializers.Serializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices, help_text="which document this is")
    file = serializers.FileField(help_text="PDF, JPEG or PNG, checked by its content")
    number = serializers.CharField(required=False, allow_blank=True, max_length=60)
    issue_date = serializers.DateField(required=False, allow_null=True)
    expiry_date = serializers.DateField(required=False, allow_null=True)


class DepositIn(StrictInput, serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    amount = serializers.CharField(max_length=40, help_text='a decimal string, e.g. "250.00"')
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. EUR")
    trading_account = serializers.CharField(
        required=False, max_length=32, help_text="a trading account's login to credit instead of the wallet"
    )
    return_url = serializers.CharField(
        required=False, max_length=500, help_text="card: where the PSP's checkout sends the payer back to"
    )


class WithdrawalIn(StrictInput, serializers.Serializer):
    amount = serializers.CharField(max_length=40, help_text='a decimal string, e.g. "100.00"')
    currency = serializers.CharField(max_length=3)
    method = serializers.ChoiceField(choices=Channel.choices, help_text="card (back to the card) or bank")
    destination = serializers.CharField(max_length=80, help_text="the card's fingerprint, or the IBAN")
    destination_name = serializers.CharField(max_length=200, help_text="the name on the card or account")
    trading_account = serializers.CharField(
        required=False, max_length=32, help_text="pay out of this trading account (login) instead of the wallet"
    )


TRANSFER_DIRECTIONS = [
    ("wallet_to_trading", "Wallet to trading account"),
    ("trading_to_wallet", "Trading account to wallet"),
]


class TransferIn(StrictInput, serializers.Serializer):
    direction = serializers.ChoiceField(choices=TRANSFER_DIRECTIONS)
    trading_account = serializers.CharField(max_length=32, help_text="the trading account's login")
    amount = serializers.CharField(max_length=40, help_text="a decimal string in the trading account's currency")


class SignInIn(StrictInput, serializers.Serializer):
    outcome = serializers.ChoiceField(choices=SignInOutcome.choices, help_text="succeeded or failed")
    at = serializers.DateTimeField(
        required=False, help_text="when the client signed in (default: now); at most a week ago"
    )
    ip_address = serializers.CharField(max_length=45, help_text="the end user's IP address as the portal saw it")
    user_agent = serializers.CharField(max_length=512, allow_blank=True, help_text="the end user's User-Agent")
    device_fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=128,
        help_text="the portal's device fingerprint (its front end's header), if it has one; else the back "
        "office uses a hash of the user agent",
    )  # fmt: skip
    failure_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=120, help_text='failed only: why, e.g. "wrong_password"'
    )
    country = serializers.CharField(
        required=False, allow_blank=True, max_length=16,
        help_text="the country of the end user's IP address as the portal's edge resolved it (e.g. its CDN's "
        'country header, such as CF-IPCountry): ISO 3166-1 alpha-2, e.g. "DE". Leave it out when the edge could '
        "not place the address: a value that is no assigned country code (a CDN's XX or T1 included) is a 400 "
        "naming the field",
    )  # fmt: skip


# --- the operations ---------------------------------------------------------------------------


class ClientAreaView(IdempotentWritesMixin, viewsets.GenericViewSet):
    # What every client-area operation shares: the key's scope, the client area's own key only, and
    # the client fetched by the one client-area selector (404: no such client).

    permission_classes = [requires_scope(SCOPE, write=SCOPE), ClientAreaCaller]
    parser_classes = [JSONParser]
    queryset = Client.objects.none()  # each operation reads through its selector

    def _client(self, *, for_write: bool) -> Client:
        return client_area_client_get(object_id(self.kwargs.get("client_id")), for_write=for_write)

    def _trading_account(self, client: Client, login: str) -> TradingAccount:
        account = client.trading_accounts.filter(login=login).first() if login else None
        if account is None:
            raise Refused("trading_account", NO_TRADING_ACCOUNT.format(login=login))
        return account

    def _page(self, rows: Any, out: Any, serializer: type[serializers.Serializer]) -> Response:
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializer([out(r) for r in page or []], many=True).data)


@extend_schema_view(
    create=extend_schema(request=RegistrationIn, responses={201: ClientOut}, summary="Register a client"),
    retrieve=extend_schema(parameters=[CLIENT_ID], responses=ClientOut, summary="A client's status and money"),
)
class ClientAreaClientViewSet(ClientAreaView):
    """Register a client (the checks of staff registration; a referral code attributes the client to its
    partner), and read its status, what the status allows, its trading accounts and wallets."""

    def create(self, request: Request) -> Response:
        body = RegistrationIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        kind = data.pop("kind", ClientKind.INDIVIDUAL)
        try:
            client = client_register(kind=kind, data=data, actor=None)
        except ClientError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(ClientOut(_client_out(client)).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, client_id: str) -> Response:
        return Response(ClientOut(_client_out(self._client(for_write=False))).data)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=DocumentOut, summary="The client's documents"),
    create=extend_schema(
        parameters=[CLIENT_ID],
        request={"multipart/form-data": DocumentIn},
        responses={201: DocumentOut},
        summary="Upload a KYC document",
    ),
)
class DocumentViewSet(ClientAreaView):
    """KYC documents: upload (checked by content, nothing stored when refused) and their review status,
    with rejection reasons as the client is told them."""

    parser_classes = [MultiPartParser]

    def list(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=False)
        return self._page(Document.objects.filter(client=client), _document_out, DocumentOut)

    def create(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=True)
        body = DocumentIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        try:
            document = document_upload(
                client_id=client.pk, kind=v["kind"], upload=v["file"], actor=None, number=v.get("number", ""),
                issue_date=v.get("issue_date"), expiry_date=v.get("expiry_date"),
            )  # fmt: skip
        except KycError as exc:
            raise _kyc_refused(exc) from None
        return Response(DocumentOut(_document_out(document)).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(parameters=[CLIENT_ID], responses=ChecklistOut, summary="The KYC checklist"),
)
class ChecklistViewSet(ClientAreaView):
    """Which documents the client must provide, and where each stands."""

    def retrieve(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=False)
        items = []
        for row in kyc_checklist(client):
            told = rejection_for_client(row.document) if row.document else None
            items.append(
                {"kind": row.kind.value, "kind_display": row.kind.label, "state": row.state,
                 "state_display": CHECKLIST_STATES.get(row.state, row.state.capitalize()),
                 "document": row.document.pk if row.document else None,
                 "rejection_reason": told.reason if told else "", "rejection_note": told.note if told else ""}
            )  # fmt: skip
        out = {
            "client": client.pk, "status": client.status, "status_display": client.get_status_display(),
            "kyc_status": kyc_status(client), "items": items,
        }  # fmt: skip
        return Response(ChecklistOut(out).data)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=DepositOut, summary="The client's deposits"),
    create=extend_schema(
        parameters=[CLIENT_ID],
        request=DepositIn,
        responses={
            201: DepositStartedOut,
            502: OpenApiResponse(
                description="card: the payment provider refused the payment intent or could not be reached; the "
                "deposit is failed and nothing was charged (start a new one)."
            ),
        },
        summary="Start a deposit",
        description="card: a payment intent; send the payer to `checkout_url`, the PSP's signed callback credits "
        "the money. bank: the bank details and the reference to pay with.",
    ),
)
class DepositViewSet(ClientAreaView):
    """Deposits: start one by card or bank transfer, and list them."""

    def list(self, request: Request, client_id: str) -> Response:
        return self._page(client_deposits(self._client(for_write=False)), _deposit_out, DepositOut)

    def create(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=True)
        body = DepositIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        trading = self._trading_account(client, v["trading_account"]) if "trading_account" in v else None
        key = _service_key(request, "deposit")
        bank = None
        try:
            if v["channel"] == Channel.CARD:
                if not v.get("return_url"):
                    raise Refused("return_url", RETURN_URL_REQUIRED)
                deposit, _ = deposit_start_card(
                    client=client, amount=v["amount"], currency=v["currency"], trading_account=trading,
                    return_url=v["return_url"], idempotency_key=key,
                )  # fmt: skip
            else:
                told = deposit_start_bank(
                    client=client, amount=v["amount"], currency=v["currency"], trading_account=trading,
                    idempotency_key=key,
                )  # fmt: skip
                deposit = told.deposit
                bank = {
                    "beneficiary": told.beneficiary,
                    "iban": told.iban,
                    "bic": told.bic,
                    "reference": told.reference,
                }
        except PaymentError as exc:
            raise PaymentProblem(exc) from None
        out = _deposit_out(deposit) | {"bank_details": bank}
        return Response(DepositStartedOut(out).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=WithdrawalOut, summary="The client's withdrawals"),
    create=extend_schema(
        parameters=[CLIENT_ID],
        request=WithdrawalIn,
        responses={201: WithdrawalOut},
        summary="Request a withdrawal",
        description="The same checks as a withdrawal staff enter: the client's status, KYC, available balance, "
        "free margin, open disputes; the funds are held, and what needs approval goes to the approval queue.",
    ),
)
class WithdrawalViewSet(ClientAreaView):
    """Withdrawals: request one (every rule staff have), and list them."""

    def list(self, request: Request, client_id: str) -> Response:
        return self._page(client_withdrawals(self._client(for_write=False)), _withdrawal_out, WithdrawalOut)

    def create(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=True)
        body = WithdrawalIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        currency = v["currency"].strip().upper()
        accounts = client_ledger_accounts(client)
        if "trading_account" in v:
            trading = self._trading_account(client, v["trading_account"])
            if trading.currency != currency:
                raise Refused(
                    "currency",
                    CURRENCY_NOT_ACCOUNTS.format(login=trading.login, account=trading.currency, currency=currency),
                )
            source = accounts.filter(trading_account=trading).first()
            if source is None:
                raise Refused("trading_account", NOTHING_IN_TRADING.format(login=trading.login), 422)
        else:
            source = accounts.filter(kind=AccountKind.CLIENT_WALLET, currency=currency).first()
            if source is None:
                raise Refused("currency", NO_WALLET_YET.format(currency=currency[:3]), 422)
        try:
            withdrawal = withdrawal_request(
                client=client, source=source, amount=v["amount"], method=v["method"], destination=v["destination"],
                destination_name=v["destination_name"], requested_by=None,
                idempotency_key=_service_key(request, "withdrawal"),
            )  # fmt: skip
        except PaymentError as exc:
            raise PaymentProblem(exc) from None
        return Response(WithdrawalOut(_withdrawal_out(withdrawal)).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(
        parameters=[CLIENT_ID],
        request=TransferIn,
        responses={201: TransferOut},
        summary="Move money between the wallet and a trading account",
    ),
)
class TransferViewSet(ClientAreaView):
    """Transfers between the client's wallet and its trading accounts (same currency)."""

    def create(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=True)
        body = TransferIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        trading = self._trading_account(client, v["trading_account"])
        if not client_can(client, Capability.TRANSFER):  # before any account is opened for it
            raise Refused("client", f"A client who is {client.get_status_display().lower()} may not transfer.", 409)
        to_trading = v["direction"] == "wallet_to_trading"
        accounts = client_ledger_accounts(client)
        wallet = accounts.filter(kind=AccountKind.CLIENT_WALLET, currency=trading.currency).first()
        ledger = accounts.filter(trading_account=trading).first()
        if to_trading and wallet is None:
            raise Refused("amount", NO_WALLET_YET.format(currency=trading.currency), 422)
        if not to_trading and ledger is None:
            raise Refused("amount", NOTHING_IN_TRADING.format(login=trading.login), 422)
        wallet = wallet or wallet_for(client=client, currency=trading.currency)
        ledger = ledger or trading_ledger_account_for(account=trading)
        try:
            entry = internal_transfer(
                from_account=wallet if to_trading else ledger, to_account=ledger if to_trading else wallet,
                amount=v["amount"], actor=None, key=_service_key(request, "transfer"), reason="client area",
            )  # fmt: skip
        except PaymentError as exc:
            raise PaymentProblem(exc) from None
        moved = next(p for p in entry.postings.all() if p.account_id == ledger.pk)
        amount = _money(abs(moved.amount), trading.currency)
        out = {
            "id": entry.pk, "direction": v["direction"], "trading_account": trading.login, "amount": amount[0],
            "amount_minor": amount[1], "currency": trading.currency, "created_at": entry.created_at,
        }  # fmt: skip
        return Response(TransferOut(out).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=TransactionOut, summary="The client's ledger lines"),
)
class TransactionViewSet(ClientAreaView):
    """The ledger lines of the client's wallets and trading accounts, newest first."""

    def list(self, request: Request, client_id: str) -> Response:
        return self._page(client_postings(self._client(for_write=False)), _transaction_out, TransactionOut)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=NotificationOut, summary="Messages sent to the client"),
)
class NotificationViewSet(ClientAreaView):
    """The messages sent to the client (staff notes and CRM records stay inside), newest first."""

    def list(self, request: Request, client_id: str) -> Response:
        return self._page(client_notifications(self._client(for_write=False)), _notification_out, NotificationOut)


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_ID], responses=SignInOut, summary="The client's sign-ins, newest first"),
    create=extend_schema(
        parameters=[CLIENT_ID],
        request=SignInIn,
        responses={201: SignInOut},
        summary="Report a sign-in to the client area",
        description="Every attempt, successful or failed, as the portal signs its end user in: the time, the "
        "IP address and user agent it saw, its device fingerprint if it has one, and the country its edge placed "
        "the address in if it could. Append-only; monitoring rules link clients by IP address and device, watch "
        "new devices, sign-ins from many countries, and withdrawals after a sign-in from outside the country of "
        "residence.",
    ),
)
class SignInViewSet(ClientAreaView):
    """The client's sign-ins to the client area: report one, list them."""

    def list(self, request: Request, client_id: str) -> Response:
        return self._page(client_sign_ins(self._client(for_write=False)), _sign_in_out, SignInOut)

    def create(self, request: Request, client_id: str) -> Response:
        client = self._client(for_write=True)
        body = SignInIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        key: ApiKey = request.auth  # type: ignore[assignment]
        try:
            sign_in = client_sign_in_record(
                client=client, outcome=v["outcome"], at=v.get("at"), ip_address=v["ip_address"],
                user_agent=v["user_agent"], device_fingerprint=v.get("device_fingerprint", ""),
                failure_reason=v.get("failure_reason", ""), reported_by=key.prefix, country=v.get("country", ""),
            )  # fmt: skip
        except SignInError as exc:
            raise ValidationError({k: [m] for k, m in exc.problems.items()}) from None
        return Response(SignInOut(_sign_in_out(sign_in)).data, status=status.HTTP_201_CREATED)
