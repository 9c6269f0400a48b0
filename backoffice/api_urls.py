from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from accounts.api import ClientViewSet
from ops.api import EventViewSet
from payments.api import WithdrawalViewSet

router = DefaultRouter(trailing_slash=True)
router.register("staff/clients", ClientViewSet, basename="api-client")
router.register("staff/withdrawals", WithdrawalViewSet, basename="api-withdrawal")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include(router.urls)),
    # outbound webhooks' events, for receivers filling gaps (/api/v1/events)
    path("v1/events", EventViewSet.as_view({"get": "list"}), name="api-events"),
]
