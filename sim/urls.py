from django.urls import include, path

from sim import client_area, views, webhooks

urlpatterns = [
    path("<slug:psp>/checkout/<slug:payment_id>/", views.checkout, name="sim-checkout"),
    path("payment-done/", views.payment_done, name="sim-payment-done"),
    path("webhooks/<slug:name>/", webhooks.receive, name="sim-webhook-receiver"),
    path("crm/", include("sim.crm_urls")),  # the simulated CRM's own pages
    # the sample client area: the broker's front office, through the client-area API only
    path("client-area/", client_area.home, name="sim-ca-home"),
    path("client-area/register/", client_area.register, name="sim-ca-register"),
    path("client-area/documents/", client_area.documents, name="sim-ca-documents"),
    path("client-area/deposit/", client_area.deposit, name="sim-ca-deposit"),
    path("client-area/deposit/done/", client_area.deposit_done, name="sim-ca-deposit-done"),
    path("client-area/transfer/", client_area.transfer, name="sim-ca-transfer"),
    path("client-area/withdraw/", client_area.withdraw, name="sim-ca-withdraw"),
    path("client-area/history/", client_area.history, name="sim-ca-history"),
    path("client-area/sign-out/", client_area.sign_out, name="sim-ca-sign-out"),
]
