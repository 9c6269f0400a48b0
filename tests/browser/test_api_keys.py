"""The API in the browser: the Swagger UI documentation page renders every operation from our own
static files under the strict CSP with no violation; and an administrator requests a key, copies
its secret from the one page that shows it, a second administrator approves it, and the key then
answers over real HTTP (before the approval: 401)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from ops.models import ApiKey, ApiKeyStatus
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.browser.test_csp import Watch
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_docs_page_shows_every_operation_without_csp_violation(page: Page) -> None:
    staff(Role.SUPPORT, username="sam")
    watch = Watch(page)
    sign_in(page, "sam")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    watch.visit("/api/v1/docs/")
    ui = page.get_by_test_id("swagger-ui")
    expect(ui).to_contain_text("/api/v1/staff/clients/")
    expect(ui).to_contain_text("/api/v1/staff/withdrawals/{id}/")
    expect(ui.get_by_role("button", name="Authorize")).to_be_visible()  # the ApiKey scheme
    ui.get_by_text("/api/v1/staff/clients/{id}/transitions/").first.click()
    expect(ui).to_contain_text("application/problem+json")
    expect(ui).to_contain_text("api_key_scope_missing")  # the examples of the error answers
    watch.assert_clean("/api/v1/docs/ expanded")
    shot(page, "api-docs")
    outside = [u for u in requests if not u.startswith(page.url.split("/api/")[0])]
    assert outside == []  # no CDN: every file from this server


def test_key_request_approve_and_use(page: Page, new_page: Callable[[], Page]) -> None:
    staff(Role.ADMIN, username="ada")
    staff(Role.ADMIN, username="alan")
    staff(Role.SUPPORT, username="sync-owner")
    sign_in(page, "ada")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    form = page.get_by_test_id("api-key-request")
    form.get_by_label("Name", exact=True).fill("CRM nightly sync")
    form.get_by_label("Owner", exact=True).select_option(label="sync-owner")
    form.get_by_label("clients:read — Read clients, their status and trading accounts (staff API)").check()
    form.get_by_label("Allowed addresses", exact=True).fill("127.0.0.1")
    form.get_by_label("Reason", exact=True).fill("the CRM reads client status every night")
    form.get_by_role("button", name="Submit for approval").click()
    secret = page.get_by_test_id("api-key-secret").inner_text().strip()
    assert secret.startswith("bo_")
    shot(page, "api-key-secret")
    api = page.request
    before = api.get("/api/v1/staff/clients/", headers={"Authorization": f"Bearer {secret}"})
    assert before.status == 401 and before.json()["type"].endswith("/api_key_not_active")
    page.get_by_test_id("approval-link").click()
    expect(page.locator("body")).to_contain_text("clients:read")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # the maker does not decide

    checker = new_page()
    sign_in(checker, "alan")
    checker.goto("/approvals/")
    checker.get_by_role("link", name="Issue the API key").first.click()
    expect(checker.locator("body")).to_contain_text("CRM nightly sync")
    expect(checker.locator("body")).not_to_contain_text(secret)
    checker.get_by_label("Reason").fill("owner and scope checked with the CRM team")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.get_by_test_id("approval-status")).to_have_text("Executed")
    assert ApiKey.objects.get().status == ApiKeyStatus.ACTIVE

    after = api.get("/api/v1/staff/clients/", headers={"Authorization": f"Bearer {secret}"})
    assert after.status == 200 and after.json()["results"] == []
    checker.goto("/staff/api-keys/")
    expect(checker.get_by_test_id("api-keys")).to_contain_text("CRM nightly sync")
    expect(checker.get_by_test_id("api-keys")).not_to_contain_text(secret)
    shot(checker, "api-keys")
