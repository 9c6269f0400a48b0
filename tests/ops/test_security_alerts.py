"""The security log's alert rules: a caller refused again and again, and failed sign-ins spread over
many accounts (password spraying), each raise one work item in the security alert queue — one per
caller per window, however often the rules run."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client as HttpClient

from audit.models import SecurityEvent, SecurityEventKind
from ops import errors
from ops.models import WorkItem
from ops.roles import Role
from ops.services.security_alerts import security_alerts_raise
from ops.tasks import security_alerts_task
from tests.conftest import wait_for
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _alerts() -> list[WorkItem]:
    return list(WorkItem.objects.filter(queue__code="security_alert").order_by("id"))


def _refused(http: HttpClient, times: int, **extra: Any) -> None:
    """Refused: 403 for a signed-in member without the role, 401 for a caller with no credentials."""
    expected = 403 if settings.SESSION_COOKIE_NAME in http.cookies else 401
    for _ in range(times):
        assert http.get("/api/v1/staff/clients/", **extra).status_code == expected


def test_twenty_refusals_from_one_user_raise_exactly_one_alert() -> None:
    nobody = staff(username="nobody", first_name="Nora", last_name="Body")
    http = sign_in(HttpClient(), nobody)
    _refused(http, 19)
    assert security_alerts_raise() == []
    _refused(http, 1)
    [item] = security_alerts_raise()
    assert security_alerts_raise() == []  # the next minute's run: same caller, same window
    _refused(http, 5)
    assert security_alerts_raise() == []
    assert _alerts() == [item]
    assert item.title == errors.ALERT_REPEATED_REFUSALS.format(count=20, minutes=5, caller="nobody")
    assert (item.risk_level, item.details["caller"], item.details["refusals"]) == ("high", "nobody", 20)
    alert = SecurityEvent.objects.get(pk=item.subject_id)
    assert (alert.kind, alert.actor, alert.reason) == (SecurityEventKind.ALERT_REFUSALS, nobody, item.title)
    assert alert.get_absolute_url() == "/audit/security/?user=nobody"


def test_anonymous_callers_are_counted_per_address() -> None:
    _refused(HttpClient(), 20, REMOTE_ADDR="203.0.113.9")
    _refused(HttpClient(), 10, REMOTE_ADDR="203.0.113.10")
    [item] = security_alerts_raise()
    assert item.details["caller"] == "203.0.113.9"
    assert SecurityEvent.objects.get(pk=item.subject_id).get_absolute_url() == "/audit/security/?ip=203.0.113.9"


def test_thresholds_are_settings(settings: Any) -> None:
    settings.SECURITY_ALERT_REFUSALS = 3
    _refused(HttpClient(), 3, REMOTE_ADDR="203.0.113.9")
    assert len(security_alerts_raise()) == 1


def _wrong_password(username: str, ip: str, status: int = 200) -> None:
    response = HttpClient().post("/login/", {"username": username, "password": "Winter2026!"}, REMOTE_ADDR=ip)
    assert response.status_code == status


def _locked_from(n: int) -> int:
    """The answer to the n-th failure from one address (or on one account): the form again, then
    django-axes' lockout (429) from LOGIN_FAILURE_LIMIT on -- the failures still count for spraying."""
    from django.conf import settings

    return 429 if n >= settings.AXES_FAILURE_LIMIT else 200


def test_one_wrong_password_on_each_of_seven_accounts_raises_a_spraying_alert() -> None:
    names = [staff(Role.SUPPORT, username=f"agent{i}").username for i in range(7)]
    for n, name in enumerate(names, start=1):
        _wrong_password(name, "198.51.100.7", _locked_from(n))
    assert security_alerts_task.apply().get() == 1  # what beat runs every minute
    [item] = _alerts()
    assert item.title == errors.ALERT_SPRAYING_FROM_IP.format(accounts=7, minutes=10, caller="198.51.100.7")
    assert item.details["accounts"] == names
    assert SecurityEvent.objects.get(pk=item.subject_id).kind == SecurityEventKind.ALERT_SPRAYING
    assert security_alerts_raise() == []


def test_many_failures_on_one_account_are_not_spraying() -> None:
    staff(username="sam")
    for n in range(1, 8):
        _wrong_password("sam", "198.51.100.7", _locked_from(n))
    assert security_alerts_raise() == []


def test_spraying_from_many_addresses_raises_the_overall_alert(settings: Any) -> None:
    settings.SECURITY_ALERT_SPRAYING_ACCOUNTS = 6
    for i in range(6):
        _wrong_password(f"someone{i}", f"198.51.100.{i + 1}")  # one account per address: no address is a sprayer
    [item] = security_alerts_raise()
    assert item.title == errors.ALERT_SPRAYING_OVERALL.format(accounts=6, minutes=10)
    assert item.details["caller"] == "every address"
    assert SecurityEvent.objects.get(pk=item.subject_id).get_absolute_url() == "/audit/security/?kind=login_failed"


def test_the_alert_is_worked_by_compliance_and_links_to_the_filtered_log() -> None:
    _refused(HttpClient(), 20, REMOTE_ADDR="203.0.113.9")
    [item] = security_alerts_raise()
    http = sign_in(HttpClient(), staff(Role.COMPLIANCE))
    page = http.get(f"/items/{item.pk}/")
    assert page.status_code == 200
    assert 'href="/audit/security/?ip=203.0.113.9"' in page.content.decode()
    log = http.get("/audit/security/?ip=203.0.113.9")
    assert log.status_code == 200 and log.context["page"].paginator.count == 21  # 20 refusals and the alert


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_raise_one_alert() -> None:
    _refused(HttpClient(), 20, REMOTE_ADDR="203.0.113.9")
    barrier = threading.Barrier(2)
    raised: list[int] = []

    def run() -> None:
        try:
            barrier.wait(10)
            raised.append(len(security_alerts_raise()))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(raised) == [0, 1]
    assert len(_alerts()) == 1


def test_beat_runs_the_rules_every_minute(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["security-alerts"]
    assert (entry["task"], entry["schedule"]) == ("ops.tasks.security_alerts_task", 60.0)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_task_raises_the_alert_in_a_real_worker(celery_worker_process: Any) -> None:
    _refused(HttpClient(), 20, REMOTE_ADDR="203.0.113.9")
    security_alerts_task.delay()
    item = wait_for(lambda: WorkItem.objects.filter(queue__code="security_alert").first())
    assert item.details["caller"] == "203.0.113.9"
    assert SecurityEvent.objects.get(pk=item.subject_id).kind == SecurityEventKind.ALERT_REFUSALS
