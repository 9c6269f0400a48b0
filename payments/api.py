"""Staff REST API for withdrawals: list, detail, and create with an ``Idempotency-Key`` header
(the same key with another body is a 422). Errors are problem+json naming the field."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Client
from backoffice.api import ScopedPermission
from ops.models import User
from payments.errors import PaymentError
from payments.models import LedgerAccount, Withdrawal
from payments.services.withdrawals import withdrawal_request


class PaymentProblem(ValidationError):
    """A refused payment as problem+json: the field at fault under ``errors``, the service's status."""

    def __init__(self, exc: PaymentError) -> None:
        detail: Any = {exc.field or "non_field_errors": [exc.message]}
        super().__init__(detail=detail, code="payment_refused")
        self.status_code = exc.status


class WithdrawalSerializer(serializers.ModelSerializer):
    client: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="reference", read_only=True)
    # "source" is also a DRF Field attribute; the API keeps the domain's name for the paying account
    source: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True)  # type: ignore[assignment]

    class Meta:
        model = Withdrawal
        fields = [
            "id", "reference", "client", "source", "amount", "currency", "method", "destination",
            "destination_name", "status", "approval", "flags", "checks", "voucher", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class WithdrawalCreateSerializer(serializers.Serializer):
    client = serializers.CharField(help_text="client reference, e.g. C0001001")
    source = serializers.CharField(help_text="ledger account code of the wallet or trading account")  # type: ignore[assignment]
    amount = serializers.CharField(help_text='a decimal string, e.g. "250.00"')
    method = serializers.CharField()
    destination = serializers.CharField()
    destination_name = serializers.CharField()


class WithdrawalViewSet(viewsets.GenericViewSet):
    permission_classes = [ScopedPermission]
    scope_map = {"GET": ["ops.view_client_status"], "POST": ["ops.handle_withdrawals"]}
    serializer_class = WithdrawalSerializer
    queryset = Withdrawal.objects.select_related("client", "source").order_by("-id")

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WithdrawalSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(WithdrawalSerializer(self.get_object()).data)

    @extend_schema(
        request=WithdrawalCreateSerializer,
        responses={201: WithdrawalSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    def create(self, request: Request) -> Response:
        data = WithdrawalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        client = Client.objects.filter(reference=values["client"]).first()
        if client is None:
            raise PaymentProblem(PaymentError(f"client: no client {values['client']!r}.", field="client", status=404))
        source = LedgerAccount.objects.filter(code=values["source"], client=client).first()
        if source is None:
            raise PaymentProblem(PaymentError("source: not one of the client's accounts.", field="source"))
        assert isinstance(request.user, User)
        try:
            withdrawal = withdrawal_request(
                client=client, source=source, amount=values["amount"], method=values["method"],
                destination=values["destination"], destination_name=values["destination_name"],
                requested_by=request.user, idempotency_key=request.headers.get("Idempotency-Key") or None,
            )  # fmt: skip
        except PaymentError as exc:
            raise PaymentProblem(exc) from None
        return Response(WithdrawalSerializer(withdrawal).data, status=status.HTTP_201_CREATED)
