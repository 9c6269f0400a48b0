from django.urls import path

from ib import views, views_money

urlpatterns = [
    path("partners/", views.partner_list_view, name="partners"),
    path("partners/new/", views.partner_new_view, name="partner-new"),
    path("partners/<int:pk>/", views.partner_view, name="partner"),
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
