from django.urls import path

from kyc import views

urlpatterns = [
    path("clients/<int:client_id>/documents/", views.document_upload_view, name="document-upload"),
    path("documents/<int:pk>/", views.document_review_view, name="document-review"),
    path("documents/<int:pk>/file/", views.document_file_view, name="document-file"),
    path("documents/<int:pk>/identity-check/", views.identity_check_request_view, name="identity-check-request"),
    path("clients/<int:client_id>/risk/", views.risk_assess_view, name="risk-assess"),
    path("screening-hits/<int:pk>/decide/", views.screening_hit_decide_view, name="screening-hit-decide"),
    path("sanctions-lists/", views.sanctions_lists_view, name="sanctions-lists"),
    path("clients/<int:client_id>/edd-approval/", views.edd_approval_request_view, name="edd-approval"),
]
