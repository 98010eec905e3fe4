"""Writing the audit log (CMP-5): every staff action, billing event, access change and account
state change, in the transaction of the change it records. The bottom of compliance: every app
writes through here (also as `compliance.services.record`), and it imports nothing of theirs."""

from django.conf import settings
from django.db import models
from django.utils import translation

from compliance.models import AuditLog
from core.bulk import insert, insert_rows
from core.request_context import current_request

__all__ = ["audit_entry", "audit_row", "record", "record_many", "record_rows", "target_of"]


def audit_row(
    *,
    action: str,
    client_id: int | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_label: str = "",
    details: dict | None = None,
    actor=None,
    ip: str | None = None,
) -> dict:
    """The values of one audit entry as a row: what `audit_entry` makes an entry of, and what the
    night's chunks write thousands of at once (`record_rows`). The IP comes from the request being
    served when not given; an actor that is not signed in is the platform itself."""
    if ip is None and (info := current_request()) is not None:
        ip = info.ip
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return {
        "action": action, "actor_id": actor.pk if actor is not None else None, "actor_label": actor.get_username() if actor is not None else "",
        "target_type": target_type, "target_id": str(target_id), "target_label": target_label[:254], "client_id": client_id,
        "details": details or {}, "ip": ip,
    }


def target_of(target: models.Model) -> dict:
    """An audit row's target fields for a model instance; its label in the site's language
    whatever the request's (a label may hold a translated choice), so the log reads one way."""
    with translation.override(settings.LANGUAGE_CODE):
        label = str(target)
    return {"target_type": target._meta.label_lower, "target_id": str(target.pk), "target_label": label}


def audit_entry(
    *,
    action: str,
    actor=None,
    target: models.Model | None = None,
    client=None,
    details: dict | None = None,
    ip: str | None = None,
) -> AuditLog:
    """One audit log entry, not yet saved: for `record()` and `record_many()`."""
    row = audit_row(action=action, actor=actor, client_id=client.pk if client is not None else None, details=details, ip=ip,
                    **(target_of(target) if target is not None else {}))
    return AuditLog(**row)


def record(
    *,
    action: str,
    actor=None,
    target: models.Model | None = None,
    client=None,
    details: dict | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Write one audit log entry (CMP-5). Call it inside the transaction of the change it records,
    so that the entry exists exactly when the change does. `actor` None means the platform itself
    (the night, a task). The IP comes from the request being served when not given."""
    entry = audit_entry(action=action, actor=actor, target=target, client=client, details=details, ip=ip)
    entry.save()
    return entry


def record_many(entries: list[AuditLog]) -> None:
    """Write many entries made by `audit_entry()` at once (the night's chunks), by COPY where the
    database has it."""
    insert(entries)


def record_rows(rows: list[dict]) -> None:
    """Write many entries made by `audit_row()` at once."""
    insert_rows(AuditLog, rows)
