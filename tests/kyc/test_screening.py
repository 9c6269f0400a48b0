"""Sanctions/PEP screening wired to clients: import, hits, queue, disposition, re-screening."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from accounts.models import Client, ClientStatus
from accounts.services.clients import client_transition, client_update_details
from kyc.errors import KycError
from kyc.models import HitStatus, ListImportStatus, SanctionsListVersion, ScreeningHit
from kyc.services.screening import client_screen, clients_rescreen, sanctions_import, screening_hit_decide
from ops.models import WorkItem
from ops.roles import Role
from tests.conftest import wait_for
from tests.factories import approvable_client, client, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

HEADER = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n"
ROW = "{id},Person,{name},{aliases},{dob},{countries},,,EU sanctions,,,eu_fsf,2020-01-01,2026-11-01,2026-11-01\n"


def _import(*rows: dict[str, str], name: str = "opensanctions") -> SanctionsListVersion:
    text = HEADER + "".join(ROW.format(**{"aliases": "", "dob": "", "countries": "", **r}) for r in rows)
    progress = list(sanctions_import(name=name, source=io.StringIO(text), source_file="targets.simple.csv"))
    return SanctionsListVersion.objects.get(pk=progress[-1].version_id)


def test_import_is_versioned_with_progress() -> None:
    version = _import({"id": "Q1", "name": "Ivan Petrov", "dob": "1970-05-12", "countries": "ru"})
    assert version.status == ListImportStatus.COMPLETE and version.entry_count == 1 and version.rows_read == 1
    entry = version.entries.get()
    assert (entry.birth_dates, entry.countries) == (["1970-05-12"], ["ru"])


def test_bad_file_fails_the_version_and_says_why() -> None:
    with pytest.raises(KycError, match="missing columns"):
        list(sanctions_import(name="x", source=io.StringIO("id,name\nQ1,Someone\n"), source_file="bad.csv"))
    assert SanctionsListVersion.objects.get().status == ListImportStatus.FAILED


def test_a_hit_opens_a_screening_item_and_raises_the_risk() -> None:
    _import({"id": "Q1", "name": "Ada Lovelace", "aliases": "Augusta Ada King", "dob": "1985-12-10", "countries": "gb"})
    c: Any = client(first_name="Ada", last_name="Lovelace")
    assert client_screen(client_id=c.pk) == 1
    hit = ScreeningHit.objects.get(client=c)
    assert hit.status == HitStatus.OPEN and hit.dob_match is True
    assert WorkItem.objects.filter(queue__code="screening_hit", subject_id=str(c.pk)).exists()
    assert Client.objects.get(pk=c.pk).risk_level == "high"
    assert client_screen(client_id=c.pk) == 0  # the same hit is not raised twice


def test_false_positive_is_not_raised_again_unless_the_entry_changes() -> None:
    _import({"id": "Q1", "name": "Ada Lovelace"})
    c: Any = client(first_name="Ada", last_name="Lovelace")
    client_screen(client_id=c.pk)
    hit = ScreeningHit.objects.get(client=c)
    with pytest.raises(KycError, match="rationale"):
        screening_hit_decide(hit_id=hit.pk, reviewer=staff(Role.COMPLIANCE), true_match=False, reason=" ")
    screening_hit_decide(
        hit_id=hit.pk,
        reviewer=staff(Role.COMPLIANCE),
        true_match=False,
        reason="different person: listed one is a mathematician from 1815",
    )
    assert WorkItem.objects.get(queue__code="screening_hit", subject_id=str(c.pk)).resolution_code == "false_positive"
    second = _import({"id": "Q1", "name": "Ada Lovelace"})  # same data, new version
    assert clients_rescreen(version_id=second.pk)["new_hits"] == 0
    third = _import({"id": "Q1", "name": "Ada Lovelace", "aliases": "Ada King"})  # the entry changed
    assert clients_rescreen(version_id=third.pk)["new_hits"] == 1


def test_true_match_restricts_an_approved_client() -> None:
    c: Any = approvable_client(first_name="Ada", last_name="Lovelace")
    client_transition(client_id=c.pk, name="submit_for_review", actor=staff(Role.SUPPORT))
    client_transition(client_id=c.pk, name="approve", actor=staff(Role.COMPLIANCE))
    _import({"id": "Q9", "name": "Ada Lovelace", "dob": "1985-12-10", "countries": "gb"})
    client_screen(client_id=c.pk)
    hit = ScreeningHit.objects.get(client=c)
    screening_hit_decide(
        hit_id=hit.pk, reviewer=staff(Role.COMPLIANCE), true_match=True, reason="same DOB and nationality"
    )
    assert Client.objects.get(pk=c.pk).status == ClientStatus.RESTRICTED
    with pytest.raises(KycError, match="already decided"):
        screening_hit_decide(hit_id=hit.pk, reviewer=staff(Role.COMPLIANCE), true_match=False, reason="changed my mind")


def test_clearly_different_names_raise_nothing() -> None:
    _import({"id": "Q1", "name": "Ivan Petrov"}, {"id": "Q2", "name": "Muammar al-Gaddafi"})
    c: Any = client(first_name="Grace", last_name="Hopper")
    assert client_screen(client_id=c.pk) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_list_update_and_name_change_rescreen_in_a_real_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    import datetime

    grace: Any = client(first_name="Grace", last_name="Hopper")
    muammar: Any = client(first_name="Muammar", last_name="Gaddafi", date_of_birth=datetime.date(1942, 6, 7))
    _import({"id": "Q7", "name": "Moammar Khadafi", "dob": "1942-06-07", "countries": "ly"})  # queues the re-screen
    wait_for(lambda: ScreeningHit.objects.filter(client=muammar).exists(), timeout=60)
    assert not ScreeningHit.objects.filter(client=grace).exists()
    client_update_details(
        client_id=grace.pk, changes={"first_name": "Muammar", "last_name": "al-Gaddafi", "date_of_birth": datetime.date(1942, 6, 7)},
        actor=staff(Role.SUPPORT), reason="identity corrected after a document review",
    )  # fmt: skip
    wait_for(lambda: ScreeningHit.objects.filter(client=grace).exists(), timeout=60)


def test_hit_decision_through_the_client_page(client: Any) -> None:
    from tests.factories import client as make_client

    _import({"id": "Q1", "name": "Ada Lovelace"})
    c: Any = make_client(first_name="Ada", last_name="Lovelace")
    client_screen(client_id=c.pk)
    hit = ScreeningHit.objects.get()
    sign_in(client, staff(Role.SUPPORT))
    assert 'data-testid="screening-hits"' in client.get(f"/clients/{c.pk}/").content.decode()
    assert (
        client.post(f"/kyc/screening-hits/{hit.pk}/decide/", {"decision": "false_positive", "reason": "x"}).status_code
        == 403
    )
    assert ScreeningHit.objects.get().status == HitStatus.OPEN
    sign_in(client, staff(Role.COMPLIANCE))
    client.post(f"/kyc/screening-hits/{hit.pk}/decide/", {"decision": "false_positive", "reason": "different person"})
    assert ScreeningHit.objects.get().status == HitStatus.FALSE_POSITIVE


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_list_import_through_the_page_runs_in_the_worker(
    client: Any, celery_worker_process: subprocess.Popen[str]
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = HEADER + ROW.format(id="Q1", name="Ivan Petrov", aliases="", dob="", countries="ru")
    sign_in(client, staff(Role.COMPLIANCE))
    response = client.post(
        "/kyc/sanctions-lists/", {"name": "test-list", "file": SimpleUploadedFile("t.csv", text.encode())}
    )
    assert response.status_code == 302
    version = wait_for(
        lambda: SanctionsListVersion.objects.filter(status=ListImportStatus.COMPLETE).first(), timeout=60
    )
    assert version is not None and version.entry_count == 1 and version.name == "test-list"
    assert "Ivan Petrov" in SanctionsListVersion.objects.get().entries.get().name
    sign_in(client, staff(Role.SUPPORT))
    assert client.get("/kyc/sanctions-lists/").status_code == 403


def test_a_namesake_born_decades_apart_raises_no_hit() -> None:
    import datetime

    _import({"id": "Q1", "name": "Ada Lovelace", "dob": "1815-12-10", "countries": "gb"})
    c: Any = client(first_name="Ada", last_name="Lovelace", date_of_birth=datetime.date(1985, 12, 10))
    assert client_screen(client_id=c.pk) == 0
    assert not ScreeningHit.objects.exists()
    assert not WorkItem.objects.filter(queue__code="screening_hit").exists()


def test_the_threshold_is_a_setting(settings: Any) -> None:
    settings.SCREENING_THRESHOLD = 99
    _import({"id": "Q1", "name": "Ada Lovelace"})
    near: Any = client(first_name="Ada", last_name="Lovelase")
    assert client_screen(client_id=near.pk) == 0
    exact: Any = client(first_name="Ada", last_name="Lovelace")
    assert client_screen(client_id=exact.pk) == 1
    assert ScreeningHit.objects.get().client_id == exact.pk


def test_a_shared_family_name_with_another_given_name_raises_nothing() -> None:
    # A client base where a few family names and given names are everyone's (as Nguyen or Pham are).
    for surname in ("Nguyễn", "Trần", "Phạm", "Lê"):
        for given in ("Hùng", "Trung", "Hồng", "Lan", "Hạnh", "Hoàng"):
            client(first_name=given, last_name=surname)
    _import({"id": "Q1", "name": "Phạm Trung", "countries": "vn"})
    other: Any = client(first_name="Hùng", last_name="Phạm", country="VN", nationality="VN")
    assert client_screen(client_id=other.pk) == 0
    assert not ScreeningHit.objects.exists()
    # The listed name without its diacritics, surname first, is the person: a hit, explained by the list's own name.
    same: Any = client(first_name="Trung", last_name="Pham", country="VN", nationality="VN")
    assert client_screen(client_id=same.pk) == 1
    hit = ScreeningHit.objects.get()
    assert (hit.client_id, hit.entry_id, hit.matched_name, hit.country_match) == (same.pk, "Q1", "Phạm Trung", True)
