from collections.abc import Iterable

from django.db import models, transaction
from django.utils import timezone

from compliance.models import AuditLog, LegalAcceptance, LegalDocument
from core.request_context import current_request


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
    """Write many entries made by `audit_entry()` in one statement (the night's chunks)."""
    AuditLog.objects.bulk_create(entries)


@transaction.atomic
def accept_documents(*, client, documents: Iterable[LegalDocument], ip: str | None = None) -> list[LegalAcceptance]:
    """Record the client's acceptance of these document versions (ACC-1, CMP-1); accepting a
    version twice keeps the first acceptance."""
    if ip is None and (info := current_request()) is not None:
        ip = info.ip
    now = timezone.now()
    accepted = []
    for document in documents:
        acceptance, created = LegalAcceptance.objects.get_or_create(
            client=client, document=document, defaults={"accepted_at": now, "ip": ip}
        )
        if created:
            record(
                action="legal.accepted",
                actor=client,
                target=document,
                client=client,
                details={"kind": document.kind, "version": document.version},
                ip=ip,
            )
        accepted.append(acceptance)
    return accepted
