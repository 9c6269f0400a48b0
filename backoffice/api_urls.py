from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from accounts.api import ClientViewSet

router = DefaultRouter(trailing_slash=True)
router.register("staff/clients", ClientViewSet, basename="api-client")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include(router.urls)),
]
