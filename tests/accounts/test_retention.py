"""Retention: a client closed longer ago than the regulatory period is pseudonymised by beat's job
(names, e-mail, phone, address, date of birth; document files deleted; history rows too); a client
closed recently is not; the ledger, the audit chain and history stay verifiable; the job is
idempotent and audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Client, ClientStatus, RelatedParty
from accounts.services.clients import client_transition_approved
from accounts.tasks import retention_pseudonymise_task
from audit.actions import AuditAction
from audit.models import AuditEvent
from kyc.models import Document
from tests.factories import approvable_client, approved_client, card_deposit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.serial,
]  # the job's transactions are its own, as under beat


@pytest.fixture(autouse=True)
def _kyc_files(settings: Any, tmp_path: Path) -> None:
    settings.KYC_STORAGE_ROOT = tmp_path / "kyc"


def _closed_client(*, years_ago: float, **fields: Any) -> Client:
    client = approvable_client(**fields)
    storage = Document._meta.get_field("file").storage
    for document in client.documents.all():  # real files behind the rows
        document.file.name = storage.save(f"{client.pk}/{document.kind}", ContentFile(b"%PDF-1.7 identity"))
        document.save(update_fields=["file"])
    RelatedParty.objects.create(client=client, role="director", name="Charles Babbage", country="GB")
    client_transition_approved(client_id=client.pk, name="close", reason="client asked to close")
    closed_at = timezone.now() - timedelta(days=int(years_ago * 365.25))
    Client.objects.filter(pk=client.pk).update(status_changed_at=closed_at)  # as if closed back then
    return Client.objects.get(pk=client.pk)


def test_good_client_closed_past_the_period_is_pseudonymised_and_everything_still_verifies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert settings.RETENTION_YEARS == 5
    funded = approved_client(provision=False)
    card_deposit(funded, "120.00")  # a ledger to verify afterwards
    old = _closed_client(years_ago=5.1, first_name="Grace", last_name="Hopper")
    recent = _closed_client(years_ago=4.9, first_name="Alan", last_name="Turing")
    files = [Path(settings.KYC_STORAGE_ROOT) / d.file.name for d in old.documents.all()]
    assert files and all(f.exists() for f in files)

    assert retention_pseudonymise_task.apply().get() == 1  # the beat job, run here

    old.refresh_from_db()
    assert (old.first_name, old.last_name, old.date_of_birth) == ("Pseudonymised", old.reference, None)
    assert (old.email, old.phone, old.address_line, old.city, old.postcode, old.nationality) == (
        f"{old.reference.lower()}@pseudonymised.invalid", "", "", "", "", ""
    )  # fmt: skip
    assert old.pseudonymised_at is not None and old.status == ClientStatus.CLOSED
    assert not any(f.exists() for f in files)
    assert [(d.file.name, d.original_name, d.number) for d in old.documents.all()] == [("", "", "")] * len(files)
    history = list(Client.history.filter(id=old.pk).values_list("first_name", "last_name", "email", "date_of_birth"))
    assert len(history) >= 3 and all(
        row == ("Pseudonymised", old.reference, old.email, None) for row in history
    )  # fmt: skip
    assert set(RelatedParty.history.filter(client_id=old.pk).values_list("name", flat=True)) <= {
        "Pseudonymised party",
        f"Pseudonymised party {old.parties.get().pk}",
    }
    assert set(Document.history.filter(client_id=old.pk).values_list("original_name", flat=True)) == {""}

    recent.refresh_from_db()
    assert (recent.first_name, recent.last_name, recent.pseudonymised_at) == ("Alan", "Turing", None)
    assert all(Path(settings.KYC_STORAGE_ROOT, d.file.name).exists() for d in recent.documents.all())

    event = AuditEvent.objects.get(action=AuditAction.CLIENT_PSEUDONYMISED)
    assert (event.subject_id, event.actor_label) == (str(old.pk), "system:accounts.tasks.retention_pseudonymise_task")
    payload = json.dumps([event.before, event.after])
    assert "Hopper" not in payload and "Babbage" not in payload and "+447911123456" not in payload
    assert event.after["document_files_deleted"] == len(files)

    call_command("audit_verify", "--seal-first")
    call_command("ledger_verify")
    out = capsys.readouterr().out
    assert "audit chain OK" in out and "ledger OK" in out


def test_good_messages_and_follow_ups_keep_their_record_but_lose_the_person() -> None:
    from ops.models import FollowUpEnrollment, Interaction, InteractionChannel
    from ops.services.interactions import client_notify

    old = _closed_client(years_ago=6, first_name="Grace", last_name="Hopper")
    sent = client_notify(
        subject=old,
        recipient="grace@example.com",
        template="kyc.documents_reminder",
        context={"name": "Grace Hopper", "reference": old.reference},
        channel=InteractionChannel.EMAIL,
    )
    assert "Grace" in sent.body and FollowUpEnrollment.objects.filter(subject_id=str(old.pk)).exists()
    assert retention_pseudonymise_task.apply().get() == 1
    sent.refresh_from_db()
    assert (sent.recipient, sent.body, sent.template, sent.channel) == (
        "", "(pseudonymised)", "kyc.documents_reminder", InteractionChannel.EMAIL
    )  # fmt: skip
    rows = list(Interaction.history.filter(id=sent.pk).values_list("recipient", "body"))
    assert len(rows) >= 2 and set(rows) == {("", "(pseudonymised)")}
    for enrollment in FollowUpEnrollment.objects.filter(subject_id=str(old.pk)):
        assert (enrollment.subject_label, enrollment.addresses, enrollment.context) == (old.reference, {}, {})
        history = list(FollowUpEnrollment.history.filter(id=enrollment.pk).values_list("subject_label", "addresses"))
        assert history and all(row == (old.reference, {}) for row in history)
    event = AuditEvent.objects.get(action=AuditAction.CLIENT_PSEUDONYMISED)
    assert event.after["interactions"] >= 1 and event.after["follow_up_enrollments"] >= 1


def test_good_the_job_is_idempotent() -> None:
    old = _closed_client(years_ago=6)
    assert retention_pseudonymise_task.apply().get() == 1
    events = AuditEvent.objects.count()
    rows = Client.history.filter(id=old.pk).count()
    assert retention_pseudonymise_task.apply().get() == 0
    assert (AuditEvent.objects.count(), Client.history.filter(id=old.pk).count()) == (events, rows)


def test_good_open_client_is_never_due_however_old() -> None:
    client = approvable_client()
    Client.objects.filter(pk=client.pk).update(status_changed_at=timezone.now() - timedelta(days=20 * 365))
    assert retention_pseudonymise_task.apply().get() == 0
    client.refresh_from_db()
    assert client.pseudonymised_at is None and client.first_name == "Ada"


def test_good_the_period_is_a_setting(settings: Any) -> None:
    settings.RETENTION_YEARS = 7
    _closed_client(years_ago=6)
    assert retention_pseudonymise_task.apply().get() == 0


def test_good_beat_runs_the_job_daily() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["retention-pseudonymise"]
    assert (entry["task"], entry["schedule"]) == ("accounts.tasks.retention_pseudonymise_task", 24 * 3600.0)


def test_good_sign_ins_keep_when_and_how_it_went_but_lose_where_from() -> None:
    from django.db import DatabaseError, transaction

    from accounts.models import ClientSignIn
    from accounts.services.sign_ins import client_sign_in_record

    old = _closed_client(years_ago=6, first_name="Grace", last_name="Hopper")
    recent = _closed_client(years_ago=1, first_name="Alan", last_name="Turing")
    for client in (old, recent):
        client_sign_in_record(
            client=client, outcome="succeeded", ip_address="203.0.113.8", user_agent="Firefox/133.0",
            device_fingerprint="fp-grace", country="PT",
        )  # fmt: skip
        client_sign_in_record(
            client=client, outcome="failed", failure_reason="wrong_password", ip_address="2001:db8::7",
            user_agent="Safari/604.1",
        )  # fmt: skip
    signed_in_at = sorted(ClientSignIn.objects.filter(client=old).values_list("at", flat=True))
    assert retention_pseudonymise_task.apply().get() == 1
    rows = ClientSignIn.objects.filter(client=old).order_by("at")
    assert [(r.ip_address, r.country, r.user_agent, r.device_id, r.device_source) for r in rows] == [
        (None, "", "", "", "")
    ] * 2
    assert ([r.at for r in rows], [r.outcome for r in rows]) == (signed_in_at, ["succeeded", "failed"])
    kept = ClientSignIn.objects.filter(client=recent).order_by("at")
    assert [(r.ip_address, r.country) for r in kept] == [("203.0.113.8", "PT"), ("2001:db8::7", "")]
    assert AuditEvent.objects.get(action=AuditAction.CLIENT_PSEUDONYMISED).after["sign_ins"] == 2
    # append-only: outside the retention job, the database refuses edits and deletions
    with pytest.raises(DatabaseError), transaction.atomic():
        ClientSignIn.objects.filter(client=recent).update(user_agent="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        ClientSignIn.objects.filter(client=recent).delete()
    assert ClientSignIn.objects.filter(client=recent, user_agent="Firefox/133.0").count() == 1
