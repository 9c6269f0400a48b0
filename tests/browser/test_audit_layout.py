"""The audit page as an auditor reads it: 112 events are pages of a couple of screens, no column
runs off the side, no word is broken across lines, and a long value unfolds on demand."""

from __future__ import annotations

import pytest
from django.db import transaction
from playwright.sync_api import expect

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Every word in a cell: split at spaces, each must lie on one line. Tokens longer than 24
# characters (hashes, timestamps' neighbours) may wrap where they must.
BROKEN_WORDS_JS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("table.audit td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        if (m[0].length > 24) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def _events(n: int) -> None:
    job = Actor.system("accounts.tasks.trading_account_provision_task")
    with transaction.atomic():
        for i in range(n):
            with acting_as(job):
                audit_record(
                    action=AuditAction.TRADING_ACCOUNT_PROVISIONED,
                    subject=("accounts.tradingaccount", i),
                    before={"status": "pending", "close_only": False},
                    after={"status": "close_only", "close_only": True, "group": "real\\corporate",
                           "sha256": f"{i:02d}" + "a1b2c3d4" * 8, "factors": {"country": "GB", "pep": False}},
                    reason="provisioned on the platform after the client's approval",
                )  # fmt: skip


def test_112_events_read_as_pages_without_broken_words(page) -> None:
    staff(Role.AUDITOR, username="audrey")
    _events(110)  # and audrey's sign-in: the password, then the second factor
    sign_in(page, "audrey")
    page.goto("/audit/")
    expect(page.get_by_text("112 events, page 1 of 5")).to_be_visible()
    shot(page, "audit-trail-layout")
    assert page.evaluate("document.documentElement.scrollHeight") < 4000
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth + 1")  # no column off the side
    assert page.evaluate(BROKEN_WORDS_JS) == []
    first = page.locator("table.audit tbody tr").nth(2)  # the newest provisioning event
    full = first.locator(".change details .full")
    expect(full).to_be_hidden()
    first.locator(".change details summary").click()
    expect(full).to_be_visible()
    expect(full).to_have_text("109" + "a1b2c3d4" * 8)
