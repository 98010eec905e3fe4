"""Erasure (CMP-2, DEA-5): a person's values anonymised in every app, through the registry,
except what tax, accounting or an open dispute requires; held while there is debt."""

import datetime

from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from compliance import privacy
from compliance.audit import record
from compliance.audit_actions import Audit
from compliance.models import AuditLog
from compliance.sealing import reseal_from, verify_audit_log
from core.exceptions import RuleRefused

ERASED = "(erased)"


def _scrub(value, needles: list[str]):
    if isinstance(value, str):
        for needle in needles:
            if needle and needle.lower() in value.lower():
                return ERASED
        return value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def _redact_audit_log(person: privacy.Person) -> datetime.date | None:
    """Remove the person's values from the audit log; returns the first day touched."""
    needles = [person.email, person.name]
    mentions = Q(actor_id=person.client_id) | Q(client_id=person.client_id)
    for needle in needles:
        if needle:
            mentions |= Q(actor_label__icontains=needle) | Q(target_label__icontains=needle) | Q(details_text__icontains=needle)
    entries = AuditLog.objects.annotate(details_text=Cast("details", TextField())).filter(mentions)
    first_day = None
    for entry in entries.iterator():
        changes = {
            "actor_label": _scrub(entry.actor_label, needles), "target_label": _scrub(entry.target_label, needles),
            "details": _scrub(entry.details, needles),
        }
        if entry.actor_id == person.client_id:
            changes["ip"] = None
        AuditLog.objects.filter(pk=entry.pk).redact(**changes)
        day = entry.created_at.astimezone(datetime.UTC).date()
        first_day = day if first_day is None or day < first_day else first_day
    return first_day


def erase_person(*, client, actor=None, reason: str = "erasure request", settle: bool = True) -> None:
    """Erase a client's personal data everywhere (CMP-2): any debt is charged to the card first
    (DEA-5; `settle=False` when the caller did, outside its transaction: the gateway is never
    called inside one), then, unless a hold remains (a debt, a dispute), every app anonymises what
    it holds and the audit log is redacted and re-sealed. Ledger amounts and invoices stay for tax."""
    if settle:
        privacy.settle(client)
    if reasons := privacy.holds(client):
        raise RuleRefused("legal_hold", "Erasure waits: " + "; ".join(reasons))
    if bad := verify_audit_log():
        raise RuleRefused("audit_log_tampered", f"The audit log does not verify ({bad[0]}); staff must look before anything is re-sealed.")
    person = privacy.Person(client_id=client.pk, email=client.email, name=client.name)
    with transaction.atomic():
        for holder in privacy.holders():
            if holder.erase is not None:
                holder.erase(client, person)

        for needle in (person.email, person.name):
            if needle:
                LogEntry.objects.filter(object_repr__icontains=needle).update(object_repr=ERASED)
        first_day = _redact_audit_log(person)
        if first_day is not None:
            reseal_from(first_day, reason=f"{reason}: client {client.pk}")
        record(action=Audit.PRIVACY_ERASED, actor=actor if actor is not None and actor.pk != client.pk else None, details={"client": client.pk, "reason": reason})

