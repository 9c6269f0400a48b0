from django.urls import path

from risk import views

urlpatterns = [
    path("", views.dashboard_view, name="risk-dashboard"),
    path("limits/", views.limits_view, name="risk-limits"),
    path("rules/", views.rule_list_view, name="risk-rules"),
    path("rules/new/", views.rule_new_view, name="risk-rule-new"),
    path("rules/<int:pk>/", views.rule_view, name="risk-rule"),
    path("rules/<int:pk>/versions/new/", views.rule_version_new_view, name="risk-rule-version-new"),
    path("rules/<int:pk>/run/", views.rule_run_view, name="risk-rule-run"),
    path("alerts/", views.alert_list_view, name="risk-alerts"),
    path("alerts/<int:pk>/", views.alert_view, name="risk-alert"),
    path("accounts/<int:pk>/book/", views.account_routing_view, name="risk-account-routing"),
]
