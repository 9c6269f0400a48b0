from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.client_list_view, name="clients"),
    path("new/", views.client_create_view, name="client-new"),
    path("<int:pk>/", views.client_view, name="client"),
    path("<int:pk>/transition/<slug:name>/", views.client_transition_view, name="client-transition"),
    path("<int:pk>/unfreeze/", views.client_unfreeze_request_view, name="client-unfreeze"),
    path("<int:pk>/parties/", views.client_party_view, name="client-party"),
    path("<int:pk>/links/", views.client_link_view, name="client-link"),
    path("<int:pk>/interactions/", views.client_interactions_view, name="client-interactions"),
    path("trading-accounts/<int:pk>/leverage/", views.trading_account_leverage_view, name="trading-account-leverage"),
]
