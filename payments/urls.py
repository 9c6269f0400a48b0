from django.urls import path

from payments import views

urlpatterns = [
    path("", views.payments_home, name="payments"),
    path("deposits/<int:pk>/", views.deposit_detail, name="payments-deposit"),
    path("withdrawals/<int:pk>/", views.withdrawal_detail, name="payments-withdrawal"),
    path("clients/<int:client_pk>/withdrawals/new/", views.withdrawal_new, name="payments-withdrawal-new"),
    path("statements/", views.statements, name="payments-statements"),
    path("breaks/<int:pk>/", views.break_detail, name="payments-break"),
    path("routing/", views.routing, name="payments-routing"),
    path("chargebacks/", views.chargebacks, name="chargebacks"),
    path("chargebacks/<int:pk>/", views.chargeback_detail, name="payments-chargeback"),
]
