from django.urls import path

from sim import crm_views

urlpatterns = [
    path("", crm_views.crm_contacts_view, name="sim-crm"),
    path("<str:crm_id>/", crm_views.crm_contact_view, name="sim-crm-contact"),
]
