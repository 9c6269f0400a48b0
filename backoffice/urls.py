from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from accounts.views import crm_webhook
from backoffice.health import healthz, healthz_ready, healthz_status
from backoffice.metrics import metrics_view
from kyc.views import identity_webhook
from ops.middleware import second_factor_not_required
from ops.views_comms import sms_webhook
from payments.views import deposit_link, psp_webhook


@login_not_required
def healthz_jobs(request: HttpRequest) -> HttpResponse:
    """For monitoring: 200 while Celery beat's heartbeat is recent, 503 when scheduled jobs have
    stalled (or have not run yet)."""
    from ops.services.heartbeat import scheduler_status

    status = scheduler_status()
    ok = status.seen_at is not None and not status.stalled
    return HttpResponse(status.summary + "\n", content_type="text/plain", status=200 if ok else 503)


@login_not_required
def favicon(request: HttpRequest) -> HttpResponseBase:
    """Pages name their icon; this answers the browsers and tools that ask for /favicon.ico."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    # signing out needs no second factor (a half-signed-in person may leave)
    path("logout/", second_factor_not_required(auth_views.LogoutView.as_view()), name="logout"),
    path("audit/", include("audit.urls")),
    # staff make a payment link for a client (payments' page on the client's URL)
    path("clients/<int:client_pk>/deposit-link/", deposit_link, name="client-deposit-link"),
    path("clients/", include("accounts.urls")),
    path("kyc/", include("kyc.urls")),
    path("payments/", include("payments.urls")),
    path("reports/", include("reporting.urls")),
    path("risk/", include("risk.urls")),
    path("agents/", include("agents.urls")),
    path("", include("ib.urls")),
    # the CRM's change notifications (before the PSPs' pattern, which would take "crm" for a PSP)
    path("webhooks/crm/", crm_webhook, name="webhook-crm"),
    # the identity verification provider's results (before the PSPs' pattern too)
    path("webhooks/identity/", identity_webhook, name="webhook-identity"),
    # the SMS provider's delivery results and the clients' replies (ops.services.sms_inbound)
    path("webhooks/sms/", sms_webhook, name="webhook-sms"),
    # a PSP's callbacks, at its adapter's name (SimPay's: /webhooks/simpay/)
    path("webhooks/<slug:provider>/", psp_webhook, name="webhook-psp"),
    path("api/", include("backoffice.api_urls")),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("healthz/jobs", healthz_jobs, name="healthz-jobs"),
    path("healthz/ready", healthz_ready, name="healthz-ready"),
    path("healthz/status", healthz_status, name="healthz-status"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("ops.urls")),
]

if apps.is_installed("sim"):  # demo and tests: the simulated PSPs' checkout pages
    urlpatterns.insert(0, path("sim/", include("sim.urls")))
