"""Headless Debian chromium driven by Playwright (its own browser download is never used)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: run `make browser` (installs Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def login(page, username: str, password: str) -> None:
    """Sign in as a person does: the password, then (when it was right) the code their
    authenticator app shows. A staff user with no authenticator yet is given one first, as if
    they had enrolled (the enrolment page has its own journey)."""
    from ops.models import User
    from tests.personas import totp_code, totp_device

    user = User.objects.filter(username=username).first()
    device = totp_device(user) if user is not None else None
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if device is not None and "/account/second-factor/" in page.url:
        page.get_by_label("Code").fill(totp_code(device))
        with page.expect_navigation():
            page.get_by_role("button", name="Verify").click()


SHOTS = os.environ.get("BROWSER_SCREENSHOTS")
WIDTH = 1280


def shot(page, name: str) -> None:
    """A full-page screenshot into $BROWSER_SCREENSHOTS, when set."""
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def sign_in(page, username: str) -> None:
    from playwright.sync_api import expect

    from tests.factories import PASSWORD

    login(page, username, PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text(username)


@pytest.fixture
def new_page(browser, live_server):
    """Pages in fresh browser contexts (own cookies): a second person at another desk."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url, viewport={"width": WIDTH, "height": 800})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
