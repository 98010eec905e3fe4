"""Imports of subscribers and address-book contacts (PRJ-5): every row checked, duplicates found in
batches, the rows inserted in bulk (COPY on PostgreSQL); a refused file writes nothing."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Client
from compliance.services import record
from core.exceptions import RuleRefused
from core.validation import text_problem
from projects.audit_actions import Audit
from projects.contacts import Reason, check_contact
from projects.models import AddressBook, Contact, Project, Subscriber
from projects.services import check_project_writable

IMPORT_MAX_ROWS = 10_000
INSERT_BATCH = 1_000
LOOKUP_BATCH = 2_000


@dataclass
class ImportResult:
    created: int = 0
    rejected: list[dict] = field(default_factory=list)


# The longest address the columns hold: Django's validator takes up to 320 characters.
EMAIL_MAX_LENGTH = min(Subscriber._meta.get_field("email").max_length, Contact._meta.get_field("email").max_length)


def _check_row(row) -> tuple[dict | None, str | None]:
    """`check_contact`, and what only storing would find (issue 17): text PostgreSQL refuses (a NUL,
    an unpaired surrogate) from any source, a CSV file's as a request's, and an address longer
    than its column."""
    if isinstance(row, dict) and any(isinstance(value, str) and text_problem(value) for value in row.values()):
        return None, Reason.INVALID_ROW
    contact, reason = check_contact(row)
    if contact is not None and len(contact["email"]) > EMAIL_MAX_LENGTH:
        return None, Reason.INVALID_EMAIL
    return contact, reason


def _existing(queryset, key: str, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), LOOKUP_BATCH):
        chunk = values[start : start + LOOKUP_BATCH]
        found.update(queryset.filter(**{f"{key}__in": chunk}).values_list(key, flat=True))
    return found


def _sort_rows(rows, existing_queryset) -> tuple[list[dict], list[dict]]:
    """Check every row (PRJ-5) → (accepted rows, rejections `{row, reason, detail}`), with a
    bounded number of queries for duplicates against what is stored."""
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"subscribers": ["Send a list of at least one row."]})
    if len(rows) > IMPORT_MAX_ROWS:
        raise ValidationError({"subscribers": [f"At most {IMPORT_MAX_ROWS:,} rows in one import; this has {len(rows):,}."]})
    checked, rejected = [], []
    seen_emails, seen_phones = set(), set()
    for index, row in enumerate(rows):
        contact, reason = _check_row(row)
        if contact is not None and (contact["email"] in seen_emails or contact["phone"] in seen_phones):
            contact, reason = None, Reason.DUPLICATE_IN_FILE
        if contact is None:
            rejected.append({"row": index, "reason": reason})
            continue
        if contact["email"]:
            seen_emails.add(contact["email"])
        if contact["phone"]:
            seen_phones.add(contact["phone"])
        checked.append((index, contact))
    taken_emails = _existing(existing_queryset, "email", sorted(seen_emails))
    taken_phones = _existing(existing_queryset, "phone", sorted(seen_phones))
    accepted = []
    for index, contact in checked:
        if contact["email"] in taken_emails or contact["phone"] in taken_phones:
            rejected.append({"row": index, "reason": Reason.ALREADY_IN_PROJECT})
        else:
            accepted.append(contact)
    rejected.sort(key=lambda r: r["row"])
    for rejection in rejected:
        rejection["detail"] = gettext(Reason.SENTENCES[rejection["reason"]])  # in the request's language
    return accepted, rejected


def _require_consent_statement(consent_confirmed) -> None:
    if consent_confirmed is not True:
        raise ValidationError(
            {"consent_confirmed": ["State that every person in the upload consented to receive messages (ToU 10.2)."]}
        )


def _bulk_insert(model, *, fixed: dict, rows: list[dict]) -> None:
    """Insert the accepted rows of an import, each `fixed` plus one row of `rows`, all or none.
    On PostgreSQL by COPY, the database's own bulk path (a tenth of the time of INSERTs built by
    the ORM at 10,000 rows); elsewhere by `bulk_create` in batches. Columns are named by field."""
    if not rows:
        return
    names = [*fixed, *rows[0]]
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                fields = [model._meta.get_field(name) for name in names]
                columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
                head = [f.get_db_prep_save(value, connection) for f, value in zip(fields, fixed.values(), strict=False)]
                with connection.cursor() as cursor, connection.wrap_database_errors:
                    with cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row((*head, *row.values()))
            else:
                model.objects.bulk_create([model(**fixed, **row) for row in rows], batch_size=INSERT_BATCH)
    except IntegrityError:
        raise RuleRefused(
            "import_conflict", "Some of these contacts were added by someone else meanwhile; nothing was imported. Send it again."
        ) from None


@transaction.atomic
def import_subscribers(*, project: Project, actor: Client, rows: list, consent_confirmed: bool) -> ImportResult:
    """Import up to 10,000 subscribers at once (PRJ-5), set-based: the rows are checked in memory,
    compared with what the project holds in a few queries, and inserted in batches. Refused rows
    come back with their reason; a refused import (no consent statement, too many rows) changes
    nothing."""
    check_project_writable(project=project, actor=actor)
    _require_consent_statement(consent_confirmed)
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one import per project at a time
    accepted, rejected = _sort_rows(rows, Subscriber.objects.filter(project=project))
    now = timezone.now()
    consent_source = f"Import stated as consented by client {actor.pk}"
    fixed = {
        "project_id": project.pk, "messenger": "", "messenger_user_id": "", "status": Subscriber.Status.ACTIVE,
        "source": Subscriber.Source.IMPORT, "consent_at": now, "consent_source": consent_source, "subscribed_at": now,
    }
    _bulk_insert(Subscriber, fixed=fixed, rows=accepted)
    record(
        action=Audit.SUBSCRIBERS_IMPORTED, actor=actor, target=project, client=project.owner,
        details={"created": len(accepted), "rejected": len(rejected), "consent_confirmed": True},
    )
    return ImportResult(created=len(accepted), rejected=rejected)


@transaction.atomic
def import_contacts(*, address_book: AddressBook, actor: Client, rows: list, consent_confirmed: bool) -> ImportResult:
    """Upload contacts to an address book, with the same rules as a subscriber import (PRJ-5)."""
    project = address_book.project
    check_project_writable(project=project, actor=actor)
    _require_consent_statement(consent_confirmed)
    AddressBook.objects.select_for_update().filter(pk=address_book.pk).first()
    accepted, rejected = _sort_rows(rows, Contact.objects.filter(address_book=address_book))
    now = timezone.now()
    consent_source = f"Upload stated as consented by client {actor.pk}"
    _bulk_insert(Contact, fixed={"address_book_id": address_book.pk, "consent_source": consent_source, "created_at": now}, rows=accepted)
    record(
        action=Audit.ADDRESS_BOOK_IMPORTED, actor=actor, target=address_book, client=project.owner,
        details={"created": len(accepted), "rejected": len(rejected), "consent_confirmed": True},
    )
    return ImportResult(created=len(accepted), rejected=rejected)


