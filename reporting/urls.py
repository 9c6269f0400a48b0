from django.urls import path

from reporting import views

urlpatterns = [
    path("", views.catalogue, name="reports"),
    path("<slug:family>/", views.report_page, name="report"),
    path("<slug:family>/export.<slug:fmt>", views.report_export, name="report-export"),
    path("<slug:family>/subscribe/", views.report_subscribe, name="report-subscribe"),
]
