"""Every save, addition and deletion made in the admin is in the audit log (CMP-5), whatever the
model and whoever wrote its admin (ours, allauth's, Django's): the admin writes a `LogEntry` for
each, in the same transaction as the change, and this copies it. The services staff edits go
through add their own entries with the values before and after."""

import json

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

from compliance.audit import audit_row, record_rows
from compliance.audit_actions import Audit

ACTIONS = {ADDITION: Audit.ADMIN_ADDED, CHANGE: Audit.ADMIN_CHANGED, DELETION: Audit.ADMIN_DELETED}


def _client_id(entry: LogEntry) -> int | None:
    """The client the edited row is about: itself, or the client, user or owner it belongs to."""
    model = entry.content_type.model_class() if entry.content_type_id else None
    if model is None or entry.action_flag == DELETION:
        return None
    if model._meta.label == settings.AUTH_USER_MODEL:
        return int(entry.object_id)
    links = [f.attname for f in model._meta.concrete_fields
             if f.name in ("client", "user", "owner") and f.is_relation and f.related_model._meta.label == settings.AUTH_USER_MODEL]
    row = model._base_manager.filter(pk=entry.object_id).values(*links).first() if links else None
    return next((v for v in (row or {}).values() if v is not None), None)


def record_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    try:
        change = json.loads(instance.change_message or "[]")
    except ValueError:
        change = instance.change_message
    model = instance.content_type.model_class() if instance.content_type_id else None
    record_rows([audit_row(
        action=ACTIONS[instance.action_flag], actor=instance.user, client_id=_client_id(instance),
        target_type=model._meta.label_lower if model else "", target_id=instance.object_id or "", target_label=instance.object_repr,
        details={"change": change},
    )])
