"""Sign-ins in the browser: two clients sign in to the sample client area on one laptop (its front
end sends a device fingerprint header; the sample reports each sign-in through the client-area API),
and a closed client's attempt is refused and reported as failed; a support agent opens one client's
page and reads the sign-in history in words (browser, IP address, device, who else used them) and
follows the link to the other client."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Client, ClientSignIn
from ops.roles import Role
from tests.api.keys import client_area_key
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def _closed(first_name: str, last_name: str) -> Client:
    from accounts.services.clients import client_transition_approved

    c = approved_client(first_name=first_name, last_name=last_name, provision=False)
    client_transition_approved(client_id=c.pk, name="close", reason="client asked to close")
    return Client.objects.get(pk=c.pk)


def test_good_shared_laptop_shows_on_the_client_page_with_names(
    page: Any, browser: Any, live_server: Any, settings: Any
) -> None:
    settings.SIM_PSP_PUBLIC_URL = live_server.url  # the client-area API: this server
    settings.SIM_CLIENT_AREA_API_KEY = client_area_key(rate=10_000)
    staff(Role.SUPPORT, username="sam")
    ada = approved_client(first_name="Ada", last_name="Laptop", provision=False)
    ben = approved_client(first_name="Ben", last_name="Laptop", provision=False)
    gone = _closed("Gil", "Gone")

    laptop = browser.new_context(
        base_url=live_server.url,
        user_agent=FIREFOX,
        # the portal's CDN tells it where the address is (the client lives in the United Kingdom)
        extra_http_headers={"X-Device-Fingerprint": "fp-family-laptop", "CF-IPCountry": "PT"},
    )
    laptop.set_default_timeout(10_000)
    person = laptop.new_page()
    for c in (ada, ben):
        person.goto("/sim/client-area/")
        person.get_by_label("Client number").fill(str(c.pk))
        person.get_by_role("button", name="Continue").click()
        person.get_by_role("button", name="Sign out").click()
    person.get_by_label("Client number").fill(str(gone.pk))
    person.get_by_role("button", name="Continue").click()
    expect(person.get_by_text("This account is closed.")).to_be_visible()
    laptop.close()
    assert list(ClientSignIn.objects.order_by("id").values_list("client__first_name", "outcome", "device_id")) == [
        ("Ada", "succeeded", "fp-family-laptop"), ("Ben", "succeeded", "fp-family-laptop"),
        ("Gil", "failed", "fp-family-laptop"),
    ]  # fmt: skip

    sign_in(page, "sam")
    page.goto(f"/clients/{ben.pk}/")
    panel = page.get_by_test_id("sign-ins-panel")
    expect(panel).to_contain_text("1 sign-in, 0 failed")
    row = panel.get_by_test_id("sign-in")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Signed in")
    expect(row).to_contain_text("Firefox on Windows")
    expect(row).to_contain_text("Device 1")
    expect(row.get_by_test_id("sign-in-country")).to_contain_text("Portugal")
    expect(row.get_by_test_id("sign-in-country")).to_contain_text("not the country of residence")
    shared = row.get_by_test_id("sign-in-shared")
    expect(shared).to_contain_text("IP: Ada Laptop, Gil Gone")
    expect(shared).to_contain_text("Device: Ada Laptop, Gil Gone")
    expect(panel).not_to_contain_text("fp-family-laptop")  # no raw device ids on the page
    shot(page, "client-sign-ins")
    shared.get_by_role("link", name="Ada Laptop").first.click()
    expect(page.get_by_role("heading", name="Ada Laptop")).to_be_visible()
    expect(page.get_by_test_id("sign-ins-panel").get_by_test_id("sign-in-shared")).to_contain_text("Ben Laptop")

    page.goto(f"/clients/{gone.pk}/")
    failed = page.get_by_test_id("sign-ins-panel").get_by_test_id("sign-in")
    expect(failed).to_contain_text("Failed")
    expect(failed).to_contain_text("account_closed")
