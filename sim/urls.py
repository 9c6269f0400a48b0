from django.urls import path

from sim import views

urlpatterns = [
    path("<slug:psp>/checkout/<slug:payment_id>/", views.checkout, name="sim-checkout"),
    path("payment-done/", views.payment_done, name="sim-payment-done"),
]
