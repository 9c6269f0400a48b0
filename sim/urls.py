from django.urls import path

from sim import webhooks

urlpatterns = [
    path("webhooks/<slug:name>/", webhooks.receive, name="sim-webhook-receiver"),
]
