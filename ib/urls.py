from django.urls import path

from ib import views

urlpatterns = [
    path("partners/", views.partner_list_view, name="partners"),
    path("partners/new/", views.partner_new_view, name="partner-new"),
    path("partners/<int:pk>/", views.partner_view, name="partner"),
    path("clients/<int:client_id>/partner/", views.attribution_change_view, name="client-partner-change"),
]
