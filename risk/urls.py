from django.urls import path

from risk import sar_views, views

urlpatterns = [
    path("", views.dashboard_view, name="risk-dashboard"),
    path("limits/", views.limits_view, name="risk-limits"),
    path("rules/", views.rule_list_view, name="risk-rules"),
    path("rules/new/", views.rule_new_view, name="risk-rule-new"),
    path("rules/<int:pk>/", views.rule_view, name="risk-rule"),
    path("rules/<int:pk>/versions/new/", views.rule_version_new_view, name="risk-rule-version-new"),
    path("rules/<int:pk>/run/", views.rule_run_view, name="risk-rule-run"),
    path("alerts/", views.alert_list_view, name="risk-alerts"),
    path("fx-gaps/", views.fx_gap_list_view, name="risk-fx-gaps"),
    path("fx-gaps/<int:pk>/", views.fx_gap_view, name="risk-fx-gap"),
    path("alerts/<int:pk>/", views.alert_view, name="risk-alert"),
    path("sars/", sar_views.sar_list_view, name="risk-sars"),
    path("sars/new/alert/<int:pk>/", sar_views.sar_new_from_alert_view, name="risk-sar-new-alert"),
    path("sars/new/hit/<int:pk>/", sar_views.sar_new_from_hit_view, name="risk-sar-new-hit"),
    path("sars/<int:pk>/", sar_views.sar_view, name="risk-sar"),
    path("sars/<int:pk>/edit/", sar_views.sar_edit_view, name="risk-sar-edit"),
    path("sars/<int:pk>/submit/", sar_views.sar_submit_view, name="risk-sar-submit"),
    path("sars/<int:pk>/export/", sar_views.sar_export_view, name="risk-sar-export"),
    path("sars/<int:pk>/filing/", sar_views.sar_filing_view, name="risk-sar-filing"),
    path("accounts/<int:pk>/book/", views.account_routing_view, name="risk-account-routing"),
]
