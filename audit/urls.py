from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_event_list_view, name="audit-events"),
    path("export.csv", views.audit_event_export_view, name="audit-export"),
    path("security/", views.security_log_view, name="security-log"),
    path("evidence/clients/<int:pk>.zip", views.evidence_pack_view, name="evidence-pack"),
    path("evidence/<slug:kind>/<int:pk>.zip", views.evidence_case_pack_view, name="evidence-case-pack"),
]
