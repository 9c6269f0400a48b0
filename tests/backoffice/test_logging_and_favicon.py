"""A refused page is one log line, not a traceback; a server error keeps its traceback; every page
names an icon and /favicon.ico answers."""

from __future__ import annotations

import logging

import pytest
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils.log import log_response

from ops.roles import Role
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request"]


def test_a_403_is_logged_as_one_warning_line_without_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(client, staff(Role.SUPPORT))
    with caplog.at_level(logging.INFO, logger="django.request"):
        assert client.get("/audit/").status_code == 403
    [record] = _request_records(caplog)
    assert record.levelname == "WARNING" and record.getMessage() == "Forbidden (Permission denied): /audit/"
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get("/boom/")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        with caplog.at_level(logging.INFO, logger="django.request"):
            log_response("Internal Server Error: %s", request.path, response=HttpResponse(status=500),
                         request=request, exception=exc)  # fmt: skip
    [record] = _request_records(caplog)
    assert record.levelname == "ERROR" and record.exc_info is not None and "RuntimeError: boom" in caplog.text


def test_favicon_is_linked_from_every_page_and_answers_at_its_usual_address(client: Client) -> None:
    assert finders.find("favicon.svg") is not None
    login_page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in login_page
    response = client.get("/favicon.ico")  # asked by browsers on pages that name no icon (the admin's)
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
