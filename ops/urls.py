from django.urls import path

from ops import api_key_views, signin, views, views_comms, views_webhooks

urlpatterns = [
    path("", views.home, name="home"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("queues/", views.queue_view, name="queues"),
    path("queues/next/", views.next_item, name="next-item"),
    path("queues/<slug:code>/", views.queue_view, name="queue"),
    path("items/<int:pk>/", views.item_view, name="work-item"),
    path("items/<int:pk>/claim/", views.item_claim, name="work-item-claim"),
    path("items/<int:pk>/assign/", views.item_assign, name="work-item-assign"),
    path("items/<int:pk>/release/", views.item_release, name="work-item-release"),
    path("items/<int:pk>/hold/", views.item_hold, name="work-item-hold"),
    path("items/<int:pk>/resume/", views.item_resume, name="work-item-resume"),
    path("items/<int:pk>/resolve/", views.item_resolve, name="work-item-resolve"),
    path("approvals/", views.approvals_inbox, name="approvals"),
    path("approvals/<int:pk>/", views.approval_view, name="approval"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval-decide"),
    path("approvals/<int:pk>/cancel/", views.approval_cancel, name="approval-cancel"),
    path("staff/", views.staff_view, name="staff"),
    path("staff/role-request/", views.staff_role_request, name="staff-role-request"),
    path("staff/access-review/", views.access_review, name="access-review"),
    path("staff/access-review.csv", views.access_review_csv, name="access-review-csv"),
    path("staff/access-review/sign-off/", views.access_review_sign_off, name="access-review-sign-off"),
    path("staff/second-factor-reset/", views.staff_second_factor_reset, name="staff-second-factor-reset"),
    path("staff/unlock/", views.staff_lockout_clear, name="staff-lockout-clear"),
    # API keys for machines (ops.api_keys)
    path("staff/api-keys/", api_key_views.api_keys_view, name="api-keys"),
    path("staff/api-keys/request/", api_key_views.api_key_request, name="api-key-request"),
    path("staff/api-keys/<int:pk>/revoke/", api_key_views.api_key_revoke, name="api-key-revoke"),
    path("staff/api-keys/<int:pk>/rotate/", api_key_views.api_key_rotate, name="api-key-rotate"),
    path("staff/api-keys/<int:pk>/scopes/", api_key_views.api_key_scopes, name="api-key-scopes"),
    # outbound webhooks (administrators)
    path("staff/webhooks/", views_webhooks.webhooks_view, name="webhooks"),
    path("staff/webhooks/<int:pk>/", views_webhooks.webhook_endpoint_view, name="webhook-endpoint"),
    path("staff/webhooks/<int:pk>/edit/", views_webhooks.webhook_endpoint_edit, name="webhook-endpoint-edit"),
    path("staff/webhooks/<int:pk>/disable/", views_webhooks.webhook_endpoint_disable, name="webhook-endpoint-disable"),
    path("staff/webhooks/<int:pk>/enable/", views_webhooks.webhook_endpoint_enable, name="webhook-endpoint-enable"),
    path("staff/webhooks/<int:pk>/rotate/", views_webhooks.webhook_secret_rotate, name="webhook-secret-rotate"),
    path(
        "staff/webhooks/<int:pk>/deliveries/<int:delivery_pk>/replay/",
        views_webhooks.webhook_delivery_replay,
        name="webhook-delivery-replay",
    ),
    # client follow-up sequences (support and compliance)
    path("followups/", views_comms.followups_view, name="followups"),
    path("followups/<int:pk>/stop/", views_comms.followup_stop_view, name="followup-stop"),
    # the second step of signing in (ops.signin)
    path("account/second-factor/", signin.second_factor_view, name="second-factor"),
    path("account/second-factor/enrol/", signin.second_factor_enrol, name="second-factor-enrol"),
]
