"""Likely duplicate clients, flagged at registration.

A new client whose e-mail, phone, or name and date of birth (trimmed, case-insensitive) is already
another client's is registered all the same, but linked to each such client as a possible
duplicate and put in the ``client_duplicate`` queue, where a person merges or dismisses it
(resolution code ``duplicate`` or ``false_positive``). The registration answer carries the warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower, Trim

from accounts.locks import client_identity_lock
from accounts.models import Client, ClientKind, ClientLink, LinkReason
from accounts.selectors import client_is_visible_to
from ops.models import OPEN_STATUSES, User, WorkItem

QUEUE = "client_duplicate"
MAX_CANDIDATES = 10
RULE_LABELS = {"email": "same e-mail", "phone": "same phone", "name_dob": "same name and date of birth"}


@dataclass(frozen=True)
class DuplicateMatch:
    other: Client
    rules: tuple[str, ...]  # keys of RULE_LABELS

    @property
    def note(self) -> str:
        return ", ".join(RULE_LABELS[r] for r in self.rules)


def _norm(value: str) -> str:
    return " ".join((value or "").split()).lower()


def _identity(client: Client) -> tuple[str, str, str, str, bool]:
    email, phone = _norm(client.email), client.phone.strip()
    first, last = _norm(client.first_name), _norm(client.last_name)
    by_name = client.kind == ClientKind.INDIVIDUAL and bool(first and last and client.date_of_birth)
    return email, phone, first, last, by_name


def client_duplicate_candidates(client: Client) -> list[DuplicateMatch]:
    """Other clients that share the e-mail, the phone, or (individuals) the name and date of birth."""
    email, phone, first, last, by_name = _identity(client)
    match = Q(email_n=email) if email else Q(pk__in=[])
    if phone:
        match |= Q(phone=phone)
    if by_name:
        match |= Q(kind=ClientKind.INDIVIDUAL, date_of_birth=client.date_of_birth, first_n=first, last_n=last)
    others = (
        Client.objects.annotate(
            email_n=Lower(Trim("email")), first_n=Lower(Trim("first_name")), last_n=Lower(Trim("last_name"))
        )
        .filter(match)
        .exclude(pk=client.pk)
        .order_by("created_at", "pk")[:MAX_CANDIDATES]
    )
    found = []
    for other in others:
        rules = []
        if email and _norm(other.email) == email:
            rules.append("email")
        if phone and other.phone == phone:
            rules.append("phone")
        if (
            by_name
            and other.date_of_birth == client.date_of_birth
            and (_norm(other.first_name), _norm(other.last_name)) == (first, last)
        ):
            rules.append("name_dob")
        found.append(DuplicateMatch(other=other, rules=tuple(rules)))
    return found


@transaction.atomic
def client_flag_duplicates(client: Client) -> list[DuplicateMatch]:
    """At registration, inside its transaction: link the new client to each likely duplicate and
    open one work item for a person to merge or dismiss."""
    from accounts.services.parties import link_clients
    from ops.services.work_items import work_item_open

    email, phone, first, last, by_name = _identity(client)
    client_identity_lock(
        *([f"email:{email}"] if email else []),
        *([f"phone:{phone}"] if phone else []),
        *([f"name:{first}|{last}|{client.date_of_birth}"] if by_name else []),
    )
    matches = client_duplicate_candidates(client)
    if not matches:
        return []
    for m in matches:
        link_clients(client, m.other, LinkReason.POSSIBLE_DUPLICATE, f"possible duplicate: {m.note}")
    # The title names only the subject (it is shown wherever the item is listed); the candidates
    # are in the details, on the item's page, and on the client page to those who may see them.
    work_item_open(
        queue=QUEUE,
        subject=client,
        title=f"Possible duplicate: {client.display_name} ({client.reference}) matches {len(matches)} other client(s)",
        details={
            "candidates": [
                {"reference": m.other.reference, "name": m.other.display_name, "matched": list(m.rules)}
                for m in matches
            ]
        },
    )
    return matches


@dataclass(frozen=True)
class DuplicateFlag:
    other: Client | None  # None: a client outside the viewer's scope (named to them by nothing)
    note: str


def client_duplicate_flags(client: Client, *, viewer: User) -> list[DuplicateFlag]:
    """What the client page and the API show: the possible duplicates still waiting for a person
    (an open item in the duplicates queue on the newer client of the pair)."""
    links = list(
        ClientLink.objects.filter(Q(client=client) | Q(other=client), reason=LinkReason.POSSIBLE_DUPLICATE)
        .select_related("client", "other")
        .order_by("id")
    )
    if not links:
        return []
    open_subjects = set(
        WorkItem.objects.filter(
            queue__code=QUEUE,
            subject_type__app_label="accounts",
            subject_type__model="client",
            subject_id__in=[str(link.client_id) for link in links],
            status__in=OPEN_STATUSES,
        ).values_list("subject_id", flat=True)
    )
    flags = []
    for link in links:
        if str(link.client_id) not in open_subjects:
            continue
        other = link.other if link.client_id == client.pk else link.client
        note = link.note.removeprefix("possible duplicate: ")
        flags.append(DuplicateFlag(other=other if client_is_visible_to(viewer, other) else None, note=note))
    return flags
