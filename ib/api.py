"""The partner API (``/api/v1/partner/``): an introducing broker's own business, read with its API
key (owner kind ``partner``, ``ib/api_key_owner.py``): its attributed clients and its
sub-partners', the tree below it, its commission statement lines with their derivation, its
statements and payouts, its referral links; and its disputes, which it raises (``partner:write``)
and follows.

Every object is fetched through the partner-scoped selectors (``ib.selectors`` /
``ib.selectors_money`` ``partner_*_visible_to`` and ``partner_*_get_for``), the same function for a
list and for its detail: another partner's client, line, payout or dispute does not exist for the
caller (404), never a 403 that would confirm it. Amounts are in minor units of their currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import django_filters
from django.db.models import Count, Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from backoffice.api import BIGINT_MAX, CursorPagination, DecisionPermission, TypedInput, object_id
from backoffice.idempotency import IdempotentWritesMixin
from ib import errors
from ib.errors import PartnerError
from ib.models import (
    Attribution,
    CommissionLine,
    Dispute,
    DisputeResolution,
    DisputeStatus,
    LineKind,
    LineStatus,
    Partner,
    Statement,
)
from ib.selectors import (
    partner_api_can_use,
    partner_client_get_for,
    partner_clients_visible_to,
    partner_subpartners,
)
from ib.selectors_money import (
    dispute_timeline,
    dispute_timelines,
    partner_deal_get_for,
    partner_dispute_get_for,
    partner_disputes_visible_to,
    partner_line_get_for,
    partner_lines_visible_to,
    partner_payout_get_for,
    partner_payouts_visible_to,
    partner_statement_get_for,
    partner_statements_visible_to,
    rule_in_words,
)
from ib.services.disputes import dispute_raise
from ops.api import requires_scope
from ops.models import ApprovalRequest, ApprovalStatus
from payments.currencies import minor_units

PARTNER_SCOPES = requires_scope("partner:read", write="partner:write")


def minor(amount: Decimal | None, currency: str) -> int | None:
    """An amount in minor units of its currency (12.34 EUR -> 1234)."""
    if amount is None:
        return None
    return int((amount * (10 ** minor_units(currency))).to_integral_value())


def object_ref(value: str | None) -> str:
    """A path's reference (a client's, a dispute's) as the database can compare it; anything else
    names no object: 404."""
    text = value or ""
    if not (0 < len(text) <= 40 and text.isascii() and text.isprintable()):
        raise Http404
    return text


class FieldNotFound(ValidationError):
    """A body field names an object the caller has not got (another partner's line): a 404 problem
    naming the field; the same answer whether the object is someone else's or none at all."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class StrictInput(TypedInput):
    """A body holds only the operation's fields (an unknown one is a 400 naming it), and a whole
    number is a JSON integer (not ``"12"``, ``12.0`` or ``true``)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        writable = [name for name, field in self.fields.items() if not field.read_only]
        problems: dict[str, list[str]] = {}
        for name in data:
            if name not in writable:
                problems[str(name)] = [errors.API_UNKNOWN_FIELD.format(fields=", ".join(writable))]
        for name, field in self.fields.items():
            value = data.get(name)
            if isinstance(field, serializers.IntegerField) and value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    problems[name] = [errors.API_NOT_AN_INTEGER]
        if problems:
            raise ValidationError(problems)
        return super().to_internal_value(data)


class StrictInputSchema(OpenApiSerializerExtension):
    """In the OpenAPI document a strict body allows no other property."""

    target_class = "ib.api.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


# What each operation answers, as the OpenAPI document shows it (a list shows a page of these).
_AT = "2026-11-02T14:05:00Z"
_PARTNER = {"code": "BETA", "name": "Beta Introducers", "level": 1}
EXAMPLES: dict[str, dict[str, Any]] = {
    "client": {
        "reference": "C0001042", "display_name": "Ada Lovelace", "country": "GB", "status": "Approved",
        "status_code": "approved", "registered_at": _AT, "attributed_since": _AT, "campaign": "spring",
        "partner": _PARTNER,
    },
    "sub-partner": {
        "code": "BETA", "name": "Beta Introducers", "level": 1, "parent": "ALPHA", "status": "Active",
        "joined_at": _AT, "clients_now": 12,
    },
    "commission line": {
        "id": 1234, "kind": "Deal commission", "kind_code": "deal", "status": "Available", "status_code": "available",
        "earned_on": "2026-11-02", "available_on": "2026-11-09", "amount_minor": 240, "currency": "EUR", "level": 1,
        "derivation": {
            "deal": {"deal_id": "T000004711", "symbol": "EURUSD", "side": "buy", "lots": "1.00",
                     "opened_at": "2026-11-02T13:35:00Z", "closed_at": _AT},
            "deposit": None, "client": "C0001042", "introduced_by": _PARTNER,
            "plan": {"code": "STD", "name": "Standard IB plan", "version": 2},
            "rule": {"kind": "Amount per lot", "in_words": "8 per lot on FX majors; split across levels 50% / 30% / "
                     "20% (this line: level 1, 30%).", "rate": "8", "level_share": "30"},
            "base_amount_minor": 800, "base_currency": "EUR", "fx_rate": "1", "fx_at": None, "reverses": None,
        },
    },
    "statement": {
        "id": 77, "period_start": "2026-10-01", "period_end": "2026-10-31", "currency": "EUR", "lines_count": 318,
        "total_minor": 412050, "sha256": "9f2c" + "0" * 60, "issued_at": "2026-11-01T02:00:00Z",
    },
    "payout": {
        "id": 901, "status": "Paid to your wallet", "status_code": "executed", "amount_minor": 412050,
        "currency": "EUR", "requested_at": "2026-11-03T09:12:00Z", "closed_at": "2026-11-03T10:40:00Z",
    },
    "dispute": {
        "reference": "IBD-000042", "status": "Resolved", "status_code": "resolved", "line": 1234, "deal": "T000004711",
        "reason": "The rate was 8.00 per lot, not 6.00.", "claimed_amount": "4.00", "raised_by":
        "partner:ALPHA (API key k3x9q2m7ab)", "raised_at": _AT, "resolution": "Correct as paid",
        "resolution_note": "The plan pays 6.00 on metals.", "resolved_at": "2026-11-04T08:00:00Z",
        "timeline": [
            {"at": _AT, "status": "Open", "text": "Raised: The rate was 8.00 per lot, not 6.00."},
            {"at": "2026-11-04T08:00:00Z", "status": "Resolved",
             "text": "Resolved: Correct as paid. The plan pays 6.00 on metals."},
        ],
    },
    "referral link": {
        "code": "ALPHA", "url": "https://backoffice.example/clients/new/?ref=ALPHA",
        "campaign_url": "https://backoffice.example/clients/new/?ref=ALPHA&campaign={campaign}",
    },
}  # fmt: skip


def _documented(name: str, *actions: str) -> Any:
    """The class decorator naming the example answer of each action."""
    example = OpenApiExample(name, value=EXAMPLES[name], response_only=True, status_codes=["200"])
    return extend_schema_view(**{action: extend_schema(examples=[example]) for action in actions})


class PartnerViewSet(IdempotentWritesMixin, viewsets.GenericViewSet):
    """A partner API resource: a partner's key with the scope, then the partner itself."""

    permission_classes = [PARTNER_SCOPES, DecisionPermission]
    parser_classes = [JSONParser]  # bodies are JSON: a whole number stays a number, text stays text
    decision_map = {"list": partner_api_can_use, "retrieve": partner_api_can_use, "create": partner_api_can_use}
    lookup_value_regex = r"[^/]+"

    def partner(self) -> Partner:
        owner = getattr(self.request.user, "owner", None)
        assert isinstance(owner, Partner)  # partner_api_can_use let only a partner's key in
        return owner

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["partner"] = self.partner()
        return context

    def paged(self, queryset: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset)) or []
        context = self.get_serializer_context() | self.page_context(page)
        return self.get_paginated_response(self.get_serializer_class()(page, many=True, context=context).data)

    def page_context(self, page: Sequence[Any]) -> dict[str, Any]:
        """What the serializer reads for a whole page in one query (instead of one per row)."""
        return {}


# --- who is who in the tree ------------------------------------------------------------------------


class PartnerRefSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="the partner's referral code")
    name = serializers.CharField()
    level = serializers.IntegerField(help_text="0: you; 1: a partner directly below you; 2: below that ...")


def partner_ref(partner: Partner, me: Partner) -> dict[str, Any]:
    return {"code": partner.code, "name": partner.name, "level": partner.depth - me.depth}


# --- clients ---------------------------------------------------------------------------------------


class PartnerClientSerializer(serializers.Serializer):
    """What a partner needs of a client it introduced (no birth date, documents or address)."""

    reference = serializers.CharField(source="client.reference")
    display_name = serializers.CharField(source="client.display_name")
    country = serializers.CharField(source="client.country")
    status = serializers.CharField(source="client.get_status_display", help_text='e.g. "Approved"')
    status_code = serializers.CharField(source="client.status", help_text='e.g. "approved"')
    registered_at = serializers.DateTimeField(source="client.created_at")
    attributed_since = serializers.DateTimeField(source="valid_from")
    campaign = serializers.CharField()
    partner = serializers.SerializerMethodField(help_text="who in your tree introduced the client")

    @extend_schema_field(PartnerRefSerializer)
    def get_partner(self, attribution: Attribution) -> dict[str, Any]:
        return partner_ref(attribution.partner, self.context["partner"])


@_documented("client", "list", "retrieve")
class PartnerClientViewSet(PartnerViewSet):
    """Your clients and your sub-partners' clients (those attributed to you or below you now)."""

    serializer_class = PartnerClientSerializer
    queryset = Attribution.objects.none()
    lookup_field = "reference"

    def list(self, request: Request) -> Response:
        return self.paged(partner_clients_visible_to(self.partner()))

    def retrieve(self, request: Request, reference: str) -> Response:
        attribution = partner_client_get_for(self.partner(), object_ref(reference))
        return Response(self.get_serializer(attribution).data)


# --- the tree ----------------------------------------------------------------------------------------


class TreePagination(CursorPagination):
    ordering = "path"  # tree order: a parent before its children


class SubPartnerSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="its referral code")
    name = serializers.CharField()
    level = serializers.SerializerMethodField(help_text="1: directly below you; 2: below that ...")
    parent = serializers.SerializerMethodField(help_text="the referral code of the partner it is under")  # type: ignore[assignment]
    status = serializers.CharField(source="get_status_display")
    joined_at = serializers.DateTimeField(source="created_at")
    clients_now = serializers.IntegerField(help_text="clients attributed to it now")

    def get_level(self, partner: Partner) -> int:
        return int(partner.depth - self.context["partner"].depth)

    def get_parent(self, partner: Partner) -> str:
        return str(self.context["parents"].get(partner.path[: -Partner.steplen], ""))


@_documented("sub-partner", "list")
class PartnerTreeViewSet(PartnerViewSet):
    """The partners below you, level by level (in tree order)."""

    serializer_class = SubPartnerSerializer
    queryset = Partner.objects.none()
    pagination_class = TreePagination

    def list(self, request: Request) -> Response:
        now = timezone.now()
        current = Q(attributions__valid_from__lte=now) & (
            Q(attributions__valid_to__isnull=True) | Q(attributions__valid_to__gt=now)
        )
        partners = partner_subpartners(self.partner()).annotate(clients_now=Count("attributions", filter=current))
        page = self.paginate_queryset(partners) or []
        parents = dict(
            Partner.objects.filter(path__in={p.path[: -Partner.steplen] for p in page}).values_list("path", "code")
        )
        data = SubPartnerSerializer(page, many=True, context=self.get_serializer_context() | {"parents": parents})
        return self.get_paginated_response(data.data)


# --- commission statement lines -------------------------------------------------------------------


class DealRefSerializer(serializers.Serializer):
    deal_id = serializers.CharField(help_text="the trading platform's deal id")
    symbol = serializers.CharField()
    side = serializers.CharField()
    lots = serializers.CharField(help_text='a decimal string, e.g. "1.50"')
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField()


class DepositRefSerializer(serializers.Serializer):
    reference = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()


class PlanRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class RuleRefSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text='e.g. "Amount per lot"')
    in_words = serializers.CharField()
    rate = serializers.CharField(help_text="the rule's rate: an amount per lot, or a percentage")
    level_share = serializers.CharField(allow_null=True, help_text="the percentage of the pool your level gets")


class DerivationSerializer(serializers.Serializer):
    deal = DealRefSerializer(allow_null=True, help_text="the deal it came from (deal commissions)")
    deposit = DepositRefSerializer(allow_null=True, help_text="the first deposit that qualified the client (CPA)")
    client = serializers.CharField(allow_null=True, help_text="the client's reference")
    introduced_by = PartnerRefSerializer(allow_null=True, help_text="the partner in your tree who introduced it")
    plan = PlanRefSerializer(allow_null=True)
    rule = RuleRefSerializer(allow_null=True)
    base_amount_minor = serializers.IntegerField(help_text="the pool, in minor units of base_currency")
    base_currency = serializers.CharField()
    fx_rate = serializers.CharField(help_text="base_currency to currency")
    fx_at = serializers.DateTimeField(allow_null=True)
    reverses = serializers.IntegerField(allow_null=True, help_text="the line a clawback reverses")


class CommissionLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(source="get_kind_display", help_text='e.g. "Deal commission"')
    kind_code = serializers.ChoiceField(source="kind", choices=LineKind.choices)
    status = serializers.CharField(source="get_status_display", help_text='e.g. "Available"')
    status_code = serializers.ChoiceField(source="status", choices=LineStatus.choices)
    earned_on = serializers.DateField()
    available_on = serializers.DateField(allow_null=True, help_text="when the hold period ends")
    amount_minor = serializers.SerializerMethodField(help_text="in minor units of currency (1234 = 12.34 EUR)")
    currency = serializers.CharField()
    level = serializers.IntegerField(help_text="0: you introduced the client; 1: a partner directly below you did ...")
    derivation = serializers.SerializerMethodField()

    def get_amount_minor(self, line: CommissionLine) -> int:
        return minor(line.amount, line.currency) or 0

    @extend_schema_field(DerivationSerializer)
    def get_derivation(self, line: CommissionLine) -> dict[str, Any]:
        me: Partner = self.context["partner"]
        deal = line.deal
        deposit = line.qualifying_deposit
        rule = line.rule
        introducers = self.context.get("introducers")
        if introducers is None:  # one line: its own query
            introducers = Partner.objects.in_bulk(line.tree[:1])
        introducer = introducers.get(line.tree[0]) if line.tree else None
        if introducer is not None and not introducer.path.startswith(me.path):
            introducer = None  # a line of yours is introduced in your tree; never name anyone else
        shares = list(rule.tier_shares) if rule is not None else []
        return {
            "deal": {
                "deal_id": deal.deal_id, "symbol": deal.symbol, "side": deal.side, "lots": str(deal.lots),
                "opened_at": deal.opened_at, "closed_at": deal.closed_at,
            } if deal is not None else None,
            "deposit": {
                "reference": deposit.reference, "amount_minor": minor(deposit.amount, deposit.currency),
                "currency": deposit.currency,
            } if deposit is not None else None,
            "client": line.client.reference if line.client is not None else None,
            "introduced_by": partner_ref(introducer, me) if introducer is not None else None,
            "plan": {
                "code": line.plan_version.plan.code, "name": line.plan_version.plan.name,
                "version": line.plan_version.number,
            } if line.plan_version is not None else None,
            "rule": {
                "kind": rule.get_kind_display(), "in_words": rule_in_words(rule, line.level),
                "rate": f"{rule.rate.normalize():f}",
                "level_share": f"{shares[line.level].normalize():f}" if 0 <= line.level < len(shares) else None,
            } if rule is not None else None,
            "base_amount_minor": minor(line.base_amount, line.base_currency),
            "base_currency": line.base_currency,
            "fx_rate": f"{line.fx_rate.normalize():f}",
            "fx_at": line.fx_at,
            "reverses": line.reverses_id,
        }  # fmt: skip


class CommissionLineFilter(django_filters.FilterSet):
    period_start = django_filters.DateFilter(
        field_name="earned_on", lookup_expr="gte", help_text="lines earned on or after this day (YYYY-MM-DD)"
    )
    period_end = django_filters.DateFilter(
        field_name="earned_on", lookup_expr="lte", help_text="lines earned on or before this day (YYYY-MM-DD)"
    )
    status = django_filters.ChoiceFilter(choices=LineStatus.choices)
    kind = django_filters.ChoiceFilter(choices=LineKind.choices)

    class Meta:
        model = CommissionLine
        fields: list[str] = []


@_documented("commission line", "list", "retrieve")
class CommissionLineViewSet(PartnerViewSet):
    """The commission statement lines you earned, each with what produced it."""

    serializer_class = CommissionLineSerializer
    queryset = CommissionLine.objects.none()
    filterset_class = CommissionLineFilter

    def list(self, request: Request) -> Response:
        return self.paged(partner_lines_visible_to(self.partner()))

    def page_context(self, page: Sequence[Any]) -> dict[str, Any]:
        return {"introducers": Partner.objects.in_bulk({line.tree[0] for line in page if line.tree})}

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(partner_line_get_for(self.partner(), object_id(pk))).data)


# --- statements and payouts ------------------------------------------------------------------------


class StatementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    currency = serializers.CharField()
    lines_count = serializers.IntegerField()
    total_minor = serializers.SerializerMethodField(help_text="in minor units of currency")
    sha256 = serializers.CharField(help_text="hash of the lines' facts: the same period gives the same hash")
    issued_at = serializers.DateTimeField()

    def get_total_minor(self, statement: Statement) -> int:
        return minor(statement.total, statement.currency) or 0


@_documented("statement", "list", "retrieve")
class StatementViewSet(PartnerViewSet):
    """Your commission statements, one per period and currency (its lines: commission-lines with
    period_start and period_end)."""

    serializer_class = StatementSerializer
    queryset = Statement.objects.none()

    def list(self, request: Request) -> Response:
        return self.paged(partner_statements_visible_to(self.partner()))

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(partner_statement_get_for(self.partner(), object_id(pk))).data)


PAYOUT_STATUS = {
    ApprovalStatus.PENDING: "Waiting for approval",
    ApprovalStatus.APPROVED: "Approved, being paid",
    ApprovalStatus.EXECUTED: "Paid to your wallet",
    ApprovalStatus.REJECTED: "Refused",
    ApprovalStatus.CANCELLED: "Cancelled",
    ApprovalStatus.EXPIRED: "Expired without a decision",
    ApprovalStatus.FAILED: "Failed: the broker's finance team looks at it",
}


class PayoutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.SerializerMethodField(help_text='e.g. "Paid to your wallet"')
    status_code = serializers.ChoiceField(source="status", choices=ApprovalStatus.choices)
    amount_minor = serializers.SerializerMethodField(help_text="in minor units of currency")
    currency = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField(source="created_at")
    closed_at = serializers.DateTimeField(allow_null=True, help_text="when it was paid, refused or expired")

    def get_status(self, payout: ApprovalRequest) -> str:
        return PAYOUT_STATUS.get(payout.status, str(payout.status))

    def get_currency(self, payout: ApprovalRequest) -> str:
        return str(payout.payload.get("currency", ""))

    def get_amount_minor(self, payout: ApprovalRequest) -> int:
        try:
            return minor(Decimal(str(payout.payload.get("amount"))), self.get_currency(payout)) or 0
        except (ArithmeticError, ValueError):
            return 0


@_documented("payout", "list", "retrieve")
class PayoutViewSet(PartnerViewSet):
    """Payouts of your available commissions to your own wallet at the broker (asked for by the
    broker's finance team, approved by a second person)."""

    serializer_class = PayoutSerializer
    queryset = ApprovalRequest.objects.none()

    def list(self, request: Request) -> Response:
        return self.paged(partner_payouts_visible_to(self.partner()))

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(partner_payout_get_for(self.partner(), object_id(pk))).data)


# --- disputes ---------------------------------------------------------------------------------------


class DisputeEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.CharField()
    text = serializers.CharField(help_text="what happened, or the broker's answer")


class DisputeSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField(source="get_status_display", help_text='e.g. "Open"')
    status_code = serializers.ChoiceField(source="status", choices=DisputeStatus.choices)
    line = serializers.IntegerField(source="line_id", allow_null=True, help_text="the statement line disputed")
    deal = serializers.CharField(source="deal.deal_id", allow_null=True, help_text="the deal it is about")
    reason = serializers.CharField(source="claim")
    claimed_amount = serializers.CharField(allow_null=True, help_text='a decimal string, e.g. "12.50"')
    raised_by = serializers.CharField()
    raised_at = serializers.DateTimeField(source="created_at")
    resolution = serializers.SerializerMethodField(help_text='e.g. "Correct as paid"; null while not resolved')
    resolution_note = serializers.CharField(help_text="the broker's answer when it resolved the dispute")
    resolved_at = serializers.DateTimeField(allow_null=True)
    timeline = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_resolution(self, dispute: Dispute) -> str | None:
        return DisputeResolution(dispute.resolution).label if dispute.resolution else None

    @extend_schema_field(DisputeEventSerializer(many=True))
    def get_timeline(self, dispute: Dispute) -> list[dict[str, Any]]:
        timelines = self.context.get("timelines")
        events = timelines[dispute.pk] if timelines is not None else dispute_timeline(dispute)
        return [{"at": e.at, "status": e.status, "text": e.text} for e in events]


class DisputeRaiseSerializer(StrictInput, serializers.Serializer):
    line = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=BIGINT_MAX, help_text="the statement line's id"
    )
    deal = serializers.CharField(
        required=False, allow_null=True, max_length=40, help_text="or: the deal that earned you nothing (its deal id)"
    )
    reason = serializers.CharField(max_length=4000, help_text="what is wrong with the commission")
    claimed_amount = serializers.CharField(
        required=False, allow_null=True, max_length=24, help_text='what you think is owed, e.g. "12.50" (optional)'
    )

    def validate_claimed_amount(self, value: str | None) -> Decimal | None:
        if value is None or value == "":
            return None
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(errors.API_BAD_CLAIMED_AMOUNT) from None
        if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2 or amount >= Decimal(10) ** 16:  # type: ignore[operator]
            raise ValidationError(errors.API_BAD_CLAIMED_AMOUNT)
        return amount

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        line, deal = attrs.get("line"), attrs.get("deal")
        if (line is None) == (deal is None or deal == ""):
            raise ValidationError({"line": [errors.API_LINE_OR_DEAL], "deal": [errors.API_LINE_OR_DEAL]})
        if not attrs["reason"].strip():
            raise ValidationError({"reason": [errors.DISPUTE_NEEDS_CLAIM]})
        return attrs


def _field_of(message: str) -> str:
    name, sep, _ = message.partition(": ")
    return name if sep and name.isidentifier() else "non_field_errors"


@_documented("dispute", "list", "retrieve")
class DisputeViewSet(PartnerViewSet):
    """Disputes about your commissions: raise one on a statement line (or a deal that earned you
    nothing) and follow its status and the broker's answers."""

    serializer_class = DisputeSerializer
    queryset = Dispute.objects.none()
    lookup_field = "reference"

    def list(self, request: Request) -> Response:
        return self.paged(partner_disputes_visible_to(self.partner()))

    def page_context(self, page: Sequence[Any]) -> dict[str, Any]:
        return {"timelines": dispute_timelines(page)}

    def retrieve(self, request: Request, reference: str) -> Response:
        return Response(self.get_serializer(partner_dispute_get_for(self.partner(), object_ref(reference))).data)

    @extend_schema(
        request=DisputeRaiseSerializer,
        responses={201: DisputeSerializer},
        examples=[
            OpenApiExample(
                "a statement line", value={"line": 1234, "reason": "The rate was 8.00 per lot, not 6.00.",
                                           "claimed_amount": "4.00"}, request_only=True,
            ),
            OpenApiExample(
                "a deal that earned nothing", value={"deal": "T000004711", "reason": "My client's deal earned nothing."},
                request_only=True,
            ),
            OpenApiExample("raised", value=EXAMPLES["dispute"] | {
                "status": "Open", "status_code": "open", "resolution": None, "resolution_note": "", "resolved_at": None,
                "timeline": EXAMPLES["dispute"]["timeline"][:1],
            }, response_only=True, status_codes=["201"]),
        ],
    )  # fmt: skip
    def create(self, request: Request) -> Response:
        body = DisputeRaiseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        partner = self.partner()
        line = deal = None
        if values.get("line") is not None:
            try:
                line = partner_line_get_for(partner, values["line"])
            except Http404:
                raise FieldNotFound({"line": [errors.API_NO_SUCH_LINE.format(line=values["line"])]}) from None
        else:
            try:
                deal = partner_deal_get_for(partner, values["deal"])
            except Http404:
                raise FieldNotFound({"deal": [errors.API_NO_SUCH_DEAL.format(deal=values["deal"])]}) from None
        try:
            dispute = dispute_raise(
                partner=partner, line=line, deal=deal, claim=values["reason"],
                claimed_amount=values.get("claimed_amount"), raised_by=str(request.user),
            )  # fmt: skip
        except PartnerError as exc:
            raise ValidationError({_field_of(str(exc)): [str(exc)]}) from None
        dispute = partner_dispute_get_for(partner, dispute.reference)
        return Response(self.get_serializer(dispute).data, status=status.HTTP_201_CREATED)


# --- referral links -----------------------------------------------------------------------------------


class ReferralLinkSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="your referral code")
    url = serializers.SerializerMethodField(help_text="the registration page with your code filled in")
    campaign_url = serializers.SerializerMethodField(
        help_text="the same with a campaign name of yours: replace {campaign}"
    )

    def _base(self, partner: Partner) -> str:
        from urllib.parse import quote

        request = self.context["request"]
        return request.build_absolute_uri(reverse("client-new")) + f"?ref={quote(partner.code)}"

    def get_url(self, partner: Partner) -> str:
        return self._base(partner)

    def get_campaign_url(self, partner: Partner) -> str:
        return self._base(partner) + "&campaign={campaign}"


@_documented("referral link", "list")
class ReferralLinkViewSet(PartnerViewSet):
    """Your referral links: a client registering through one is attributed to you."""

    serializer_class = ReferralLinkSerializer
    queryset = Partner.objects.none()
    decision_map = {"list": partner_api_can_use}

    def list(self, request: Request) -> Response:
        return self.paged(Partner.objects.filter(pk=self.partner().pk))


def register(router: Any) -> None:
    """The partner API's routes on the v1 router (``backoffice/api_urls.py``)."""
    router.register("partner/clients", PartnerClientViewSet, basename="api-partner-client")
    router.register("partner/tree", PartnerTreeViewSet, basename="api-partner-tree")
    router.register("partner/commission-lines", CommissionLineViewSet, basename="api-partner-line")
    router.register("partner/statements", StatementViewSet, basename="api-partner-statement")
    router.register("partner/payouts", PayoutViewSet, basename="api-partner-payout")
    router.register("partner/disputes", DisputeViewSet, basename="api-partner-dispute")
    router.register("partner/referral-links", ReferralLinkViewSet, basename="api-partner-referral-link")
