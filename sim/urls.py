from django.urls import include, path

from sim import views, webhooks

urlpatterns = [
    path("<slug:psp>/checkout/<slug:payment_id>/", views.checkout, name="sim-checkout"),
    path("payment-done/", views.payment_done, name="sim-payment-done"),
    path("webhooks/<slug:name>/", webhooks.receive, name="sim-webhook-receiver"),
    path("crm/", include("sim.crm_urls")),  # the simulated CRM's own pages
]
