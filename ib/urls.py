from django.urls import path

from ib import views, views_money

urlpatterns = [
    path("partners/", views.partner_list_view, name="partners"),
    path("partners/new/", views.partner_new_view, name="partner-new"),
    path("partners/<int:pk>/", views.partner_view, name="partner"),
    path("partners/runs/", views.commission_runs_view, name="commission-runs"),
    path("partners/runs/<int:pk>/", views.commission_run_view, name="commission-run"),
    path("partners/runs/<int:pk>/progress/", views.commission_run_progress_view, name="commission-run-progress"),
    path("partners/unearned/", views.deals_unearned_view, name="deals-unearned"),
    path("clients/<int:client_id>/partner/", views.attribution_change_view, name="client-partner-change"),
    # commission money and disputes
    path("partners/lines/<int:pk>/", views_money.line_view, name="ib-line"),
    path("partners/lines/<int:pk>/dispute/", views_money.line_dispute_view, name="ib-line-dispute"),
    path("partners/disputes/", views_money.dispute_list_view, name="ib-disputes"),
    path("partners/disputes/<str:reference>/", views_money.dispute_view, name="ib-dispute"),
    path("partners/disputes/<str:reference>/resolve/", views_money.dispute_resolve_view, name="ib-dispute-resolve"),
    path(
        "partners/disputes/<str:reference>/adjustment/", views_money.dispute_adjustment_view, name="ib-dispute-adjust"
    ),
    path("partners/<int:pk>/payouts/", views_money.partner_payouts_view, name="partner-payouts"),
    path("partners/<int:pk>/payouts/request/", views_money.partner_payout_request_view, name="partner-payout-request"),
    path("partners/deals/", views.deal_list_view, name="deals"),
    path("partners/deals/import/", views.deal_import_view, name="deal-import"),
    path("partners/deals/<str:deal_id>/", views.deal_view, name="deal"),
    path("partners/feed/", views.deal_feed_view, name="deal-feed"),
    path("partners/feed/<int:pk>/", views.deal_batch_view, name="deal-batch"),
]

urlpatterns += [
    path("partners/plans/", views.plan_list_view, name="plans"),
    path("partners/plans/new/", views.plan_new_view, name="plan-new"),
    path("partners/plans/<int:pk>/", views.plan_view, name="plan"),
    path("partners/plans/<int:pk>/versions/new/", views.plan_version_new_view, name="plan-version-new"),
    path("partners/<int:pk>/plan/", views.partner_plan_view, name="partner-plan"),
    path("partners/<int:pk>/move/", views.partner_move_view, name="partner-move"),
]
