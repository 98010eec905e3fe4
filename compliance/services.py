from collections.abc import Iterable

from django.db import models, transaction
from django.utils import timezone

from compliance.models import AuditLog, LegalAcceptance, LegalDocument, LegalNotice
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


NOTICE_BATCH = 200


@transaction.atomic
def publish_document(*, kind: str, version: str, title: str, body: str, actor=None) -> LegalDocument:
    """Publish a new version of a legal document (CMP-1): in force at once; every client is told
    by email in background batches and sees a notice on the dashboard until it accepts."""
    from django.core.exceptions import ValidationError

    if kind not in LegalDocument.Kind.values:
        raise ValidationError({"kind": ["Unknown kind of document."]})
    if LegalDocument.objects.filter(kind=kind, version=version).exists():
        raise ValidationError({"version": ["This version is published already."]})
    document = LegalDocument(kind=kind, version=version, title=title, body=body)
    document.full_clean()
    document.save()
    record(action="legal.published", actor=actor, target=document, details={"kind": kind, "version": version})
    from compliance.tasks import notify_document
    from core.tasks import enqueue

    enqueue(notify_document, document.pk)
    return document


def notify_document_batch(*, document_id: int, batch: int = NOTICE_BATCH) -> int:
    """Email one batch of the clients not yet told about this version; returns how many. Each
    notice is marked in the same transaction as its sending is decided, so a rerun tells nobody
    twice."""
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail

    document = LegalDocument.objects.get(pk=document_id)
    told = LegalNotice.objects.filter(document=document).values("client_id")
    clients = list(
        get_user_model().objects.filter(is_active=True, is_staff=False).exclude(pk__in=told).order_by("pk")[:batch]
    )
    for client in clients:
        with transaction.atomic():
            _, created = LegalNotice.objects.get_or_create(client=client, document=document)
            if not created:
                continue
            transaction.on_commit(lambda c=client: send_mail(
                f"[{django_settings.SITE_NAME}] {document.title} {document.version}",
                f"Hello {c.name},\n\nWe published a new version of the {document.get_kind_display()} ({document.version}). "
                f"Read it and accept it on your dashboard: {django_settings.SITE_URL}/legal/{document.kind}/\n",
                None, [c.email],
            ))
    return len(clients)
