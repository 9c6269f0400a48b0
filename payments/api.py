"""Staff REST API for withdrawals: list, detail, and create. Errors are problem+json naming the
field. ``Idempotency-Key`` is honoured per caller as on every API write (``backoffice.idempotency``).

Access reads the same functions as the pages: ``payments_can_view`` for any use, the scoped
selectors for which withdrawals and clients exist for the caller (others are 404), and
``withdrawal_can_enter`` to create one."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from backoffice.api import DecisionPermission, TypedInput, object_id
from backoffice.idempotency import IdempotentWritesMixin
from ops.api import requires_scope
from ops.models import User
from payments.errors import PaymentError
from payments.filters import WithdrawalFilter
from payments.models import Withdrawal
from payments.selectors import (
    client_ledger_accounts,
    payments_can_view,
    withdrawal_client_get_for,
    withdrawal_get_for,
    withdrawal_queryset_for,
)
from payments.services.withdrawals import withdrawal_can_enter, withdrawal_request


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


def _longest(name: str) -> int:
    return Withdrawal._meta.get_field(name).max_length or 0


class WithdrawalCreateSerializer(TypedInput, serializers.Serializer):
    client = serializers.CharField(max_length=20, help_text="client reference, e.g. C0001001")
    source = serializers.CharField(max_length=80, help_text="ledger account code of the wallet or trading account")  # type: ignore[assignment]
    amount = serializers.CharField(max_length=40, help_text='a decimal string, e.g. "250.00"')
    method = serializers.CharField(max_length=_longest("method"))
    destination = serializers.CharField(max_length=_longest("destination"))
    destination_name = serializers.CharField(max_length=_longest("destination_name"))


class WithdrawalViewSet(IdempotentWritesMixin, viewsets.GenericViewSet):
    # a key needs the scope; a staff member (session, or the key's staff owner) the role as well
    permission_classes = [requires_scope("payments:read", write="payments:write"), DecisionPermission]
    filterset_class = WithdrawalFilter  # the status filter of the payments page
    # Who may use each action, as the payments pages; entering one also asks withdrawal_can_enter
    # about the client, once the scoped selector has found it.
    decision_map = {"list": payments_can_view, "retrieve": payments_can_view, "create": payments_can_view}
    serializer_class = WithdrawalSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema is built without a caller
            return Withdrawal.objects.none()
        return withdrawal_queryset_for(self._user())

    def _user(self) -> User:
        assert isinstance(self.request.user, User)
        return self.request.user

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(WithdrawalSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        withdrawal = withdrawal_get_for(self._user(), object_id(pk), for_write=False)
        return Response(WithdrawalSerializer(withdrawal).data)

    @extend_schema(request=WithdrawalCreateSerializer, responses={201: WithdrawalSerializer})
    def create(self, request: Request) -> Response:
        data = WithdrawalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = self._user()
        try:
            client = withdrawal_client_get_for(user, reference=values["client"])
        except Http404:
            raise PaymentProblem(
                PaymentError(f"client: no client {values['client']!r}.", field="client", status=404)
            ) from None
        decision = withdrawal_can_enter(user, client)
        if not decision:
            raise PermissionDenied(decision.reason)
        source = client_ledger_accounts(client).filter(code=values["source"]).first()
        if source is None:
            raise PaymentProblem(PaymentError("source: not one of the client's accounts.", field="source"))
        try:
            withdrawal = withdrawal_request(
                client=client, source=source, amount=values["amount"], method=values["method"],
                destination=values["destination"], destination_name=values["destination_name"],
                requested_by=user,
            )  # fmt: skip
        except PaymentError as exc:
            raise PaymentProblem(exc) from None
        return Response(WithdrawalSerializer(withdrawal).data, status=status.HTTP_201_CREATED)
