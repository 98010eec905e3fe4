"""Writing the audit log (CMP-5): every staff action, billing event, access change and account
state change, in the transaction of the change it records. The bottom of compliance: every app
writes through here (also as `compliance.services.record`), and it imports nothing of theirs."""

from django.db import models

from compliance.models import AuditLog
from core.bulk import insert
from core.request_context import current_request

__all__ = ["audit_entry", "record", "record_many"]


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
    if ip is None and (info := current_request()) is not None:
        ip = info.ip
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLog(
        action=action,
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "",
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        client=client,
        details=details or {},
        ip=ip,
    )


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
