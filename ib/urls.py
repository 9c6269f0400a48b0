from django.urls import path

from ib import views

urlpatterns = [
    path("partners/", views.partner_list_view, name="partners"),
    path("partners/new/", views.partner_new_view, name="partner-new"),
    path("partners/<int:pk>/", views.partner_view, name="partner"),
    path("partners/runs/", views.commission_runs_view, name="commission-runs"),
    path("partners/runs/<int:pk>/", views.commission_run_view, name="commission-run"),
    path("partners/runs/<int:pk>/progress/", views.commission_run_progress_view, name="commission-run-progress"),
    path("partners/unearned/", views.deals_unearned_view, name="deals-unearned"),
    path("clients/<int:client_id>/partner/", views.attribution_change_view, name="client-partner-change"),
]

urlpatterns += [
    path("partners/plans/", views.plan_list_view, name="plans"),
    path("partners/plans/new/", views.plan_new_view, name="plan-new"),
    path("partners/plans/<int:pk>/", views.plan_view, name="plan"),
    path("partners/plans/<int:pk>/versions/new/", views.plan_version_new_view, name="plan-version-new"),
    path("partners/<int:pk>/plan/", views.partner_plan_view, name="partner-plan"),
    path("partners/<int:pk>/move/", views.partner_move_view, name="partner-move"),
]
