"""Each payments action has one ``<entity>_can_<verb>``: its service enforces it (by role and by
client), and the pages offer exactly the actions it allows — no button that would refuse."""

from __future__ import annotations

from html import escape

import pytest

from ops.roles import Role
from payments import errors
from payments.errors import PaymentError
from payments.models import DepositStatus, ReconciliationBreak, Withdrawal, WithdrawalStatus
from payments.services.bank import statement_import
from payments.services.deposits import deposit_can_release, deposit_release
from payments.services.reconciliation import break_can_resolve, break_resolve_by_hand
from payments.services.withdrawals import withdrawal_can_execute, withdrawal_can_reject, withdrawal_reject
from tests.factories import staff
from tests.payments.world import scoped_staff, world

pytestmark = pytest.mark.django_db


# --- the services enforce them -------------------------------------------------------------------


def test_bad_staff_limited_to_other_clients_cannot_release_the_deposit() -> None:
    w = world()
    with pytest.raises(PaymentError) as exc:
        deposit_release(deposit_id=w.held.pk, actor=scoped_staff(w.other_client), reason="looks fine")
    assert exc.value.status == 403 and exc.value.message == errors.NOT_IN_SCOPE
    w.held.refresh_from_db()
    assert w.held.status == DepositStatus.REVIEW


def test_good_staff_given_the_client_may_release_its_deposit() -> None:
    w = world()
    deposit_release(deposit_id=w.held.pk, actor=scoped_staff(w.client), reason="joint account")
    w.held.refresh_from_db()
    assert w.held.status == DepositStatus.CREDITED


def test_bad_compliance_rejects_withdrawals_but_does_not_release_deposits() -> None:
    w = world()
    compliance = staff(Role.COMPLIANCE)
    assert deposit_can_release(compliance, w.held).reason == errors.NOT_ALLOWED.format(verb="release held deposits")
    assert withdrawal_can_reject(compliance, w.withdrawal)
    withdrawal_reject(withdrawal_id=w.withdrawal.pk, actor=compliance, reason_code="client_request", note="")
    assert Withdrawal.objects.get(pk=w.withdrawal.pk).status == WithdrawalStatus.REJECTED


def test_bad_read_only_role_may_not_reject() -> None:
    w = world()
    with pytest.raises(PaymentError) as exc:
        withdrawal_reject(withdrawal_id=w.withdrawal.pk, actor=staff(Role.RISK), reason_code="client_request")
    assert exc.value.status == 403 and exc.value.message == errors.NOT_ALLOWED.format(verb="reject withdrawals")


def test_bad_execute_is_refused_before_approval_with_the_state_as_reason() -> None:
    w = world()
    decision = withdrawal_can_execute(staff(Role.FINANCE), w.withdrawal)
    assert not decision and "under review" in decision.reason.lower()


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.RISK])
def test_bad_only_finance_imports_statements(role: Role) -> None:
    with pytest.raises(PaymentError) as exc:
        statement_import(data=b":20:X\n", filename="x.sta", actor=staff(role))
    assert exc.value.status == 403
    assert exc.value.message == errors.NOT_ALLOWED.format(verb="import bank statements")


def test_bad_staff_limited_to_some_clients_may_not_import_the_firms_statements() -> None:
    w = world()
    with pytest.raises(PaymentError) as exc:
        statement_import(data=b":20:X\n", filename="x.sta", actor=scoped_staff(w.client))
    assert exc.value.status == 403


def test_bad_staff_limited_to_other_clients_cannot_move_the_clients_money() -> None:
    from django.contrib.auth.models import Permission

    from payments.services.ledger import wallet_for
    from payments.services.transfers import internal_transfer

    w = world()
    outsider = scoped_staff(w.other_client)
    outsider.user_permissions.add(Permission.objects.get(codename="handle_internal_transfers"))
    wallet = wallet_for(client=w.payer, currency="EUR")
    with pytest.raises(PaymentError) as exc:  # refused for whom it is, before what is asked is looked at
        internal_transfer(from_account=wallet, to_account=wallet, amount="10.00", actor=outsider, key="scoped-1")
    assert exc.value.status == 403 and exc.value.message == errors.NOT_IN_SCOPE


def test_good_finance_resolves_a_break_with_a_note_once() -> None:
    from ops.models import WorkItem

    w = world()
    finance = staff(Role.FINANCE)
    assert not break_can_resolve(staff(Role.RISK), w.brk)
    with pytest.raises(PaymentError) as exc:
        break_resolve_by_hand(break_id=w.brk.pk, actor=finance, note="  ")
    assert exc.value.field == "note"
    break_resolve_by_hand(break_id=w.brk.pk, actor=finance, note="bank fee booked on the 3rd")
    assert ReconciliationBreak.objects.get(pk=w.brk.pk).resolved_at is not None
    item = WorkItem.objects.get(queue__code="reconciliation_break", subject_id=str(w.brk.pk))
    assert item.resolution_code == "fixed"
    with pytest.raises(PaymentError) as exc:
        break_resolve_by_hand(break_id=w.brk.pk, actor=finance, note="again")
    assert exc.value.status == 409 and exc.value.message == errors.BREAK_ALREADY_RESOLVED


# --- the pages read them --------------------------------------------------------------------------

CREDIT, RETURN = "Credit the client</button>", "Return to the payer</button>"
REJECT, EXECUTE = "Reject and release the funds</button>", "Execute payout</button>"


@pytest.mark.parametrize(("persona", "offered"), [("finance", True), ("compliance", False), ("risk", False)])
def test_deposit_page_offers_credit_and_return_only_to_who_may(persona: str, offered: bool) -> None:
    w = world()
    html = w.http(persona).get(f"/payments/deposits/{w.held.pk}/").content.decode()
    assert (CREDIT in html, RETURN in html) == (offered, offered)
    why_not = escape(errors.NOT_ALLOWED.format(verb="release held deposits"))  # said, not left to guess
    assert (why_not in html) == (not offered)


@pytest.mark.parametrize(("persona", "offered"), [("finance", True), ("compliance", True), ("risk", False)])
def test_withdrawal_page_offers_reject_only_to_who_may(persona: str, offered: bool) -> None:
    w = world()
    html = w.http(persona).get(f"/payments/withdrawals/{w.withdrawal.pk}/").content.decode()
    assert (REJECT in html) == offered
    assert EXECUTE not in html  # under review: nobody may pay it out yet


@pytest.mark.parametrize(("persona", "offered"), [("finance", True), ("compliance", False)])
def test_execute_is_offered_to_finance_once_approved(persona: str, offered: bool) -> None:
    w = world()
    Withdrawal.objects.filter(pk=w.withdrawal.pk).update(status=WithdrawalStatus.APPROVED)  # the approvals' result
    html = w.http(persona).get(f"/payments/withdrawals/{w.withdrawal.pk}/").content.decode()
    assert (EXECUTE in html) == offered


@pytest.mark.parametrize(
    ("persona", "new_withdrawal", "linked"),
    [("finance", True, True), ("risk", False, True), ("support", False, False)],
)
def test_client_money_panel_offers_what_the_viewer_may_open(persona: str, new_withdrawal: bool, linked: bool) -> None:
    w = world()
    html = w.http(persona).get(f"/clients/{w.client.pk}/").content.decode()
    assert (f"/payments/clients/{w.client.pk}/withdrawals/new/" in html) == new_withdrawal
    assert (f'href="{w.held.get_absolute_url()}"' in html) == linked
    assert w.held.reference in html


@pytest.mark.parametrize(("persona", "offered"), [("finance", True), ("risk", False)])
def test_break_page_offers_resolve_only_to_who_may(persona: str, offered: bool) -> None:
    w = world()
    html = w.http(persona).get(f"/payments/breaks/{w.brk.pk}/").content.decode()
    assert ("Resolve the break</button>" in html) == offered
    assert "595.00 EUR" in html


def test_no_permission_in_payments_is_checked_by_group_name() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = [*(root / "payments").rglob("*.py"), *(root / "templates" / "payments").rglob("*.html")]
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in sources
        if "migrations" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"groups\.(filter|all|values)|groups__name|user_role_values", line)
    ]
    assert offenders == []
