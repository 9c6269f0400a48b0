"""Staff REST API for clients: list, detail, create, transitions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import errors
from accounts.errors import ClientError
from accounts.filters import ClientFilter
from accounts.models import AccountType, Client, ClientKind, TradingAccount
from accounts.selectors import client_can_list, client_get_for, client_list
from accounts.services import clients as client_services
from accounts.services.duplicates import client_duplicate_flags
from backoffice.api import DecisionPermission, TypedInput, object_id
from backoffice.idempotency import IdempotentWritesMixin
from ops.api import requires_scope
from ops.models import User


class TradingAccountSerializer(serializers.ModelSerializer):
    account_type: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = TradingAccount
        fields = ["id", "login", "account_type", "currency", "leverage", "platform_group", "status"]


class ClientSerializer(TypedInput, serializers.ModelSerializer):
    account_type: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="code", queryset=AccountType.objects.filter(is_active=True)
    )
    account_manager = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    trading_accounts = TradingAccountSerializer(many=True, read_only=True)
    display_name = serializers.CharField(read_only=True)
    country = serializers.CharField()
    nationality = serializers.CharField(required=False, allow_blank=True)
    referral_code = serializers.CharField(
        required=False, allow_blank=True, max_length=32, write_only=True,
        help_text="The introducing partner's referral code: the client is attributed to that partner.",
    )  # fmt: skip
    campaign = serializers.CharField(required=False, allow_blank=True, max_length=64, write_only=True)

    class Meta:
        model = Client
        fields = [
            "id", "reference", "kind", "status", "display_name", "first_name", "last_name", "date_of_birth",
            "nationality", "legal_name", "registration_number", "country", "address_line", "city", "postcode",
            "email", "phone", "segment", "tags", "account_manager", "risk_level", "account_type", "base_currency",
            "created_at", "trading_accounts", "referral_code", "campaign",
        ]  # fmt: skip
        read_only_fields = ["id", "reference", "status", "risk_level", "created_at"]


class ClientWarningSerializer(serializers.Serializer):
    code = serializers.CharField(help_text='"possible_duplicate"')
    detail = serializers.CharField()
    client = serializers.CharField(allow_null=True, help_text="the other client's reference (null: outside your scope)")


class ClientCreatedSerializer(ClientSerializer):
    """The new client, with what a person should look at (a likely duplicate, in its queue)."""

    warnings = ClientWarningSerializer(many=True, read_only=True)

    class Meta(ClientSerializer.Meta):
        fields = [*ClientSerializer.Meta.fields, "warnings"]


def _warnings(client: Client, viewer: User) -> list[dict[str, Any]]:
    return [
        {
            "code": "possible_duplicate",
            "detail": errors.POSSIBLE_DUPLICATE.format(
                other=f"{flag.other.display_name} ({flag.other.reference})"
                if flag.other
                else errors.OTHER_OUT_OF_SCOPE,
                matched=flag.note,
            ),
            "client": flag.other.reference if flag.other else None,
        }
        for flag in client_duplicate_flags(client, viewer=viewer)
    ]


class TransitionSerializer(TypedInput, serializers.Serializer):
    transition = serializers.ChoiceField(choices=sorted(client_services.RULES))
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    force = serializers.BooleanField(required=False, default=False)


class ClientViewSet(IdempotentWritesMixin, viewsets.GenericViewSet):
    serializer_class = ClientSerializer
    queryset = Client.objects.none()  # the real one is scoped per user in get_queryset
    lookup_value_regex = r"\d+"
    # a key needs the scope; a staff member (session, or the key's staff owner) the role as well
    permission_classes = [requires_scope("clients:read", write="clients:write"), DecisionPermission]
    filterset_class = ClientFilter
    # Who may use each action; a transition also asks client_can_transition on the client itself.
    decision_map = {
        "list": client_can_list,
        "retrieve": client_can_list,
        "create": client_services.client_can_register,
        "transitions": client_can_list,
    }

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema is built without a caller
            return Client.objects.none()
        return client_list(user=self.request.user)  # type: ignore[arg-type]

    def list(self, request: Request) -> Response:
        # ClientFilter: a 400 naming a bad filter (a NUL byte, an over-long value, an unknown choice)
        clients = self.filter_queryset(self.get_queryset()).prefetch_related("trading_accounts__account_type")
        page = self.paginate_queryset(clients)
        return self.get_paginated_response(ClientSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ClientSerializer(self._client(pk, for_write=False)).data)

    @extend_schema(request=ClientSerializer, responses={201: ClientCreatedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ClientSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        kind = data.pop("kind", ClientKind.INDIVIDUAL)
        try:
            client = client_services.client_register(kind=kind, data=data, actor=request.user)  # type: ignore[arg-type]
        except ClientError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        client.warnings = _warnings(client, request.user)  # type: ignore[attr-defined,arg-type]
        return Response(ClientCreatedSerializer(client).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TransitionSerializer, responses=ClientSerializer)
    @action(detail=True, methods=["post"])
    def transitions(self, request: Request, pk: str) -> Response:
        """Move the client through its lifecycle (unfreeze goes through /approvals)."""
        client = self._client(pk, for_write=True)
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user: User = request.user  # type: ignore[assignment]
        client_services.client_can_transition(user, client, body.validated_data["transition"]).require(PermissionDenied)
        try:
            client = client_services.client_transition(
                client_id=client.pk, name=body.validated_data["transition"], actor=request.user,  # type: ignore[arg-type]
                reason=body.validated_data.get("reason", ""), force=body.validated_data.get("force", False),
            )  # fmt: skip
        except ClientError as exc:
            raise ValidationError({"transition": [str(exc)]}) from None
        return Response(ClientSerializer(client).data)

    def _client(self, pk: str, *, for_write: bool) -> Client:
        return client_get_for(self.request.user, object_id(pk), for_write=for_write)  # type: ignore[arg-type]
