from django.urls import path

from ib import views

urlpatterns = [
    path("partners/", views.partner_list_view, name="partners"),
    path("partners/new/", views.partner_new_view, name="partner-new"),
    path("partners/<int:pk>/", views.partner_view, name="partner"),
    path("clients/<int:client_id>/partner/", views.attribution_change_view, name="client-partner-change"),
    path("partners/deals/", views.deal_list_view, name="deals"),
    path("partners/deals/import/", views.deal_import_view, name="deal-import"),
    path("partners/deals/<str:deal_id>/", views.deal_view, name="deal"),
    path("partners/feed/", views.deal_feed_view, name="deal-feed"),
    path("partners/feed/<int:pk>/", views.deal_batch_view, name="deal-batch"),
]
