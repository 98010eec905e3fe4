import datetime
import logging
import re
import secrets
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from compliance import complaints, privacy
from compliance.audit import audit_entry, record, record_many  # noqa: F401 (also written as compliance.services.*)
from compliance.audit_actions import Audit
from compliance.calendar import add_working_days
from compliance.erasure import erase_person
from compliance.models import Complaint, CookieConsent, Incident, LegalAcceptance, LegalDocument, LegalNotice, MarketingConsent, PrivacyExport, PrivacyRequest
from compliance.privacy import export_person
from compliance.signals import spam_complaint_decided, spam_complaint_received
from core.emails import send_mail_later
from core.exceptions import RuleRefused
from core.request_context import current_request
from core.tasks import enqueue, enqueue_at

log = logging.getLogger(__name__)


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
                action=Audit.LEGAL_ACCEPTED,
                actor=client,
                target=document,
                client=client,
                details={"kind": document.kind, "version": document.version},
                ip=ip,
            )
        accepted.append(acceptance)
    return accepted


NOTICE_BATCH = 200
NOTIFY_TASK = "compliance.tasks.notify_document"  # by name: the tasks module imports this one
# A batch that could not mail (SMTP down) is tried again this long after, attempt by attempt; after
# the last, beat's `resume-document-notices` picks the chain up again.
NOTICE_RETRY_SECONDS = (30, 60, 120, 300, 600, 1800, 3600)
NOTICE_MAX_ATTEMPTS = 12
RESUME_WITHIN_DAYS = 30


@transaction.atomic
def publish_document(*, kind: str, version: str, title: str, body: str, actor=None) -> LegalDocument:
    """Publish a new version of a legal document (CMP-1): in force at once; every client is told
    by email in background batches and sees a notice on the dashboard until it accepts."""
    if kind not in LegalDocument.Kind.values:
        raise ValidationError({"kind": ["Unknown kind of document."]})
    if LegalDocument.objects.filter(kind=kind, version=version).exists():
        raise ValidationError({"version": ["This version is published already."]})
    document = LegalDocument(kind=kind, version=version, title=title, body=body)
    document.full_clean()
    document.save()
    record(action=Audit.LEGAL_PUBLISHED, actor=actor, target=document, details={"kind": kind, "version": version})

    enqueue(NOTIFY_TASK, document.pk)  # through the outbox, in this transaction: never lost (issue 17, item 5)
    return document


def _mail_document(client, document: LegalDocument) -> None:
    """CMP-1's notice of a new version, in the client's language (NTF-1)."""
    with translation.override(getattr(client, "language", "") or django_settings.LANGUAGE_CODE):
        body = _("Hello %(name)s,\n\nWe published a new version of the %(kind)s (%(version)s). Read it and accept it on your dashboard: %(url)s\n") % {
            "name": client.name, "kind": document.get_kind_display(), "version": document.version,
            "url": f"{django_settings.SITE_URL}/legal/{document.kind}/"}
    send_mail(f"[{django_settings.SITE_NAME}] {document.title} {document.version}", body, None, [client.email])


def untold_clients(document: LegalDocument):
    """The clients to tell of this version (CMP-1): active ones who had an account when it was
    published (a later one accepted it at registration) and were not emailed about it yet."""
    told = LegalNotice.objects.filter(document=document).values("client_id")
    return (get_user_model().objects.filter(is_active=True, is_staff=False, date_joined__lte=document.published_at)
            .exclude(pk__in=told).order_by("pk"))


def notify_document_batch(*, document_id: int, batch: int | None = None, attempt: int = 0) -> int:
    """Email one batch of the clients not yet told about this version (CMP-1); returns how many
    were told. A client is marked told only once its email went, and the rest of the chain is
    queued through the outbox in the batch's own transaction (issue 17, item 5): an email that
    fails stops the batch, keeps what went and tries the rest again later; a broker down between
    batches loses nothing. One batch of a document runs at a time (its row locked), so a rerun or
    a second chain never tells anyone twice."""
    with transaction.atomic():
        # NO KEY: a client accepting the document meanwhile (a row pointing at it) is not held up.
        document = LegalDocument.objects.select_for_update(no_key=True, skip_locked=True).filter(pk=document_id).first()
        if document is None:
            return 0  # no such document, or one of its batches is running: that one carries the chain on
        batch = batch or NOTICE_BATCH
        clients = list(untold_clients(document)[:batch])
        told = 0
        for client in clients:
            try:
                _mail_document(client, document)
            except Exception as exc:  # noqa: BLE001 (what went stays marked; the rest is tried again)
                _retry_notices_later(document, attempt=attempt, error=exc)
                return told
            LegalNotice.objects.create(client=client, document=document)
            told += 1
        if len(clients) == batch:  # maybe more: the next batch, queued with this one's marks
            enqueue(NOTIFY_TASK, document.pk)
    return told


def _retry_notices_later(document: LegalDocument, *, attempt: int, error: Exception) -> None:
    log.warning("legal notices of document %s stopped (attempt %s): %r", document.pk, attempt + 1, error)
    if attempt + 1 >= NOTICE_MAX_ATTEMPTS:
        return  # beat's resume_document_notices starts the chain again
    delay = NOTICE_RETRY_SECONDS[min(attempt, len(NOTICE_RETRY_SECONDS) - 1)]
    enqueue_at(NOTIFY_TASK, document.pk, attempt + 1, eta=timezone.now() + datetime.timedelta(seconds=delay))


def resume_document_notices(*, now=None) -> int:
    """Start the notices again of every version published lately whose clients are not all told
    (CMP-1, issue 17 item 5: a rerun picks up the untold). Returns how many documents."""
    now = now or timezone.now()
    documents = [d for d in LegalDocument.objects.filter(published_at__gte=now - datetime.timedelta(days=RESUME_WITHIN_DAYS))
                 if untold_clients(d).exists()]
    for document in documents:
        enqueue(NOTIFY_TASK, document.pk)
    return len(documents)


COMPLAINT_WORKING_DAYS = 30  # CMP-4, ToU 21.10


COMPLAINTS_PER_DAY = 5  # CMP-4: one complainant files only a few a day


@transaction.atomic
def receive_complaint(
    *, complainant, identification: str, description: str, period_start, period_end, kind: str = "other", project_id: int | None = None
):
    """Take in a complaint (CMP-4): who, what right and which period are required, and the project
    named must exist; due 30 working days after receipt; a few a day per complainant (429). A spam
    complaint stops the project's sending at once when the complainant is one of its subscribers
    or contacts; otherwise staff review it first and suspend with one action. A blocked account
    files none (ACC-3)."""
    if getattr(complainant, "is_authenticated", False):
        complaints.check_complainant(complainant)
    errors = {}
    if not (identification or "").strip():
        errors["identification"] = ["Say who complains and how to reach them."]
    if not (description or "").strip():
        errors["description"] = ["Say what right was violated, and how."]
    if period_start and period_end and period_end < period_start:
        errors["period_end"] = ["The period ends before it starts."]
    if kind == Complaint.Kind.SPAM and not project_id:
        errors["project"] = ["A spam complaint names the project that sent it."]
    elif project_id and not complaints.project_exists(project_id):
        errors["project"] = ["There is no such project."]
    if errors:
        raise ValidationError(errors)
    signed_in = getattr(complainant, "is_authenticated", False)
    now = timezone.now()
    if signed_in and Complaint.objects.filter(complainant=complainant, received_at__gte=now - datetime.timedelta(days=1)).count() >= COMPLAINTS_PER_DAY:
        raise RuleRefused("complaint_limit", gettext_noop("At most %(limit)s complaints a day; write again tomorrow."), params={"limit": COMPLAINTS_PER_DAY},
                          status=429, retry_after=3600)
    matched = complaints.complainant_known(project_id, identification, complainant) if project_id else None
    complaint = Complaint.objects.create(
        complainant=complainant if signed_in else None, kind=kind, identification=identification.strip(), description=description.strip(),
        period_start=period_start, period_end=period_end, project_id=project_id, matched=matched, received_at=now,
        due_at=add_working_days(now.date(), COMPLAINT_WORKING_DAYS),
    )
    record(action=Audit.COMPLAINT_RECEIVED, actor=complainant, target=complaint, details={"kind": kind, "project": project_id, "matched": matched})
    if kind == Complaint.Kind.SPAM and matched:
        spam_complaint_received.send(sender=Complaint, project_id=project_id, complaint_id=complaint.pk)
    return complaint


@transaction.atomic
def suspend_sending_for_complaint(*, complaint, actor):
    """Staff suspend the sending of the project an open spam complaint names (CMP-4): what a
    complaint from a subscriber or contact does at once."""
    complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
    if complaint.kind != Complaint.Kind.SPAM or complaint.status != Complaint.Status.OPEN or not complaint.project_id:
        raise RuleRefused("complaint_not_open_spam", "Only an open spam complaint about a project suspends its sending.")
    spam_complaint_received.send(sender=Complaint, project_id=complaint.project_id, complaint_id=complaint.pk)
    record(action=Audit.COMPLAINT_SENDING_SUSPENDED, actor=actor, target=complaint, details={"project": complaint.project_id})
    return complaint


@transaction.atomic
def decide_complaint(*, complaint, upheld: bool, answer: str, actor):
    """Staff answer and close a complaint (CMP-4); for spam, the project's sending follows."""
    if not (answer or "").strip():
        raise ValidationError({"answer": ["Write the answer to the complainant."]})
    complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
    if complaint.status != Complaint.Status.OPEN:
        return complaint
    complaint.status = Complaint.Status.UPHELD if upheld else Complaint.Status.REJECTED
    complaint.answer, complaint.answered_at, complaint.answered_by = answer.strip(), timezone.now(), actor
    complaint.save()
    record(action=Audit.COMPLAINT_DECIDED[complaint.status], actor=actor, target=complaint, details={"project": complaint.project_id})
    if complaint.kind == Complaint.Kind.SPAM and complaint.project_id:
        spam_complaint_decided.send(sender=Complaint, project_id=complaint.project_id, complaint_id=complaint.pk, upheld=upheld)
    return complaint


PRIVACY_KINDS = ["access", "rectification", "erasure", "restriction", "objection", "portability"]


@transaction.atomic
def clean_subject(subject_email: str, subject_phone: str) -> tuple[str, str]:
    """A subject's email and phone in the one spelling they are searched by."""
    return (subject_email or "").strip().lower(), re.sub(r"[\s().-]", "", subject_phone or "")


def privacy_request_errors(*, kind: str, client=None, subject_email: str = "", subject_phone: str = "") -> dict[str, list[str]]:
    """Field by field, why a privacy request cannot be filed; empty when it can. Shared by the
    service, the API and the admin's form so that all say the same."""
    errors = {}
    if kind not in PRIVACY_KINDS:
        errors["kind"] = [f"One of {', '.join(PRIVACY_KINDS)}."]
    subject_email, subject_phone = clean_subject(subject_email, subject_phone)
    if subject_email:
        try:
            validate_email(subject_email)
        except ValidationError:
            errors["subject_email"] = ["Not an email address."]
    if subject_phone and not re.fullmatch(r"\+[1-9]\d{6,14}", subject_phone):
        errors["subject_phone"] = ["An international number, e.g. +4915112345678."]
    if client is None and not subject_email and not subject_phone:
        errors["subject_email"] = ["Whose data is it about? Give the person's email or phone."]
    return errors


def receive_privacy_request(*, client=None, kind: str, details: str = "", subject_email: str = "", subject_phone: str = "", actor=None):
    """A data subject request (CMP-2): due one month after receipt. From a client about itself, or
    about a person who is no client (a subscriber, a contact), named by email or phone, filed by
    staff or by the client for its subscriber."""
    errors = privacy_request_errors(kind=kind, client=client, subject_email=subject_email, subject_phone=subject_phone)
    if errors:
        raise ValidationError(errors)
    subject_email, subject_phone = clean_subject(subject_email, subject_phone)
    now = timezone.now()
    request = PrivacyRequest.objects.create(
        client=client, subject_email=subject_email, subject_phone=subject_phone, kind=kind, details=details, received_at=now,
        due_at=(now + relativedelta(months=1)).date(),
    )
    record(action=Audit.PRIVACY_REQUEST_RECEIVED, actor=actor or client, target=request, client=client, details={"kind": kind})
    return request


@transaction.atomic
def extend_privacy_request(*, request, months: int, reason: str, actor):
    """Staff extend the deadline by up to two more months in all, with a reason (GDPR Art. 12(3))."""
    request = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
    if not (reason or "").strip():
        raise ValidationError({"extension_reason": ["Say why it takes longer."]})
    latest = (request.received_at + relativedelta(months=3)).date()
    due = request.due_at + relativedelta(months=months)
    if months < 1 or due > latest:
        raise RuleRefused("extension_too_long", "A request may be extended by two months at most, three months after receipt in all.")
    request.due_at, request.extension_reason = due, reason.strip()
    request.save(update_fields=["due_at", "extension_reason"])
    record(action=Audit.PRIVACY_REQUEST_EXTENDED, actor=actor, target=request, client=request.client, details={"due_at": str(due), "reason": reason})
    return request


def erase_or_hold(*, client, actor=None) -> bool:
    """For account deletion (DEA-5): erase now, or — while a hold remains — leave an open erasure
    request for staff, due like any other. Returns whether it was erased."""
    try:
        erase_person(client=client, actor=actor, reason="account deleted")
        return True
    except RuleRefused as refused:
        if not PrivacyRequest.objects.filter(client=client, kind="erasure", status="open").exists():
            receive_privacy_request(client=client, kind="erasure", details=f"Account deleted; erasure waits: {refused.detail}")
        return False


def decide_privacy_request(*, request, fulfilled: bool, note: str, actor):
    """Staff fulfil or refuse a privacy request (CMP-2). Fulfilling an erasure first charges any
    debt to the card (DEA-5) outside any transaction (a payment is never rolled back with a
    refusal), then erases in one transaction with the decision."""
    if fulfilled and request.kind == PrivacyRequest.Kind.ERASURE and request.client_id and request.status == PrivacyRequest.Status.OPEN:
        privacy.settle(request.client)
    return _decide_privacy_request(request=request, fulfilled=fulfilled, note=note, actor=actor)


@transaction.atomic
def _decide_privacy_request(*, request, fulfilled: bool, note: str, actor):
    request = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != PrivacyRequest.Status.OPEN:
        return request
    if not fulfilled and not (note or "").strip():
        raise ValidationError({"staff_note": ["A refusal gives its reason."]})
    if fulfilled and request.kind == PrivacyRequest.Kind.ERASURE and request.client_id:
        # Settled above; a hold (a debt) still refuses, and the request stays open.
        erase_person(client=request.client, actor=actor, settle=False)
    elif fulfilled and request.kind == PrivacyRequest.Kind.ERASURE and (request.subject_email or request.subject_phone):
        counts = privacy.erase_subject(email=request.subject_email, phone=request.subject_phone)
        # The request stays on record, without what would find the person again.
        request.subject_email, request.subject_phone = "", ""
        request.details = (request.details + "\n" if request.details else "") + ", ".join(f"{n} {kind} erased" for kind, n in sorted(counts.items()))
        record(action=Audit.SUBJECT_ERASED, actor=actor, target=request, details=counts)
    if fulfilled and request.kind in (PrivacyRequest.Kind.ACCESS, PrivacyRequest.Kind.PORTABILITY) and request.client_id:
        _send_export(request)
    request.status = PrivacyRequest.Status.FULFILLED if fulfilled else PrivacyRequest.Status.REFUSED
    request.staff_note, request.decided_at, request.decided_by = note, timezone.now(), actor
    request.save()
    record(action=Audit.PRIVACY_REQUEST_DECIDED[request.status], actor=actor, target=request, client=request.client)
    return request


@transaction.atomic
def set_marketing_consent(*, client, given: bool, ip: str | None = None):
    """Give or withdraw marketing consent (CMP-3); a repeat of the same answer adds nothing."""
    current = MarketingConsent.objects.filter(client=client).first()
    if current is not None and current.given == given:
        return current
    if ip is None and (info := current_request()) is not None:
        ip = info.ip
    consent = MarketingConsent.objects.create(client=client, given=given, ip=ip)
    record(action=Audit.CONSENT_MARKETING_GIVEN if given else Audit.CONSENT_MARKETING_WITHDRAWN, actor=client, target=client, client=client)
    return consent


def set_cookie_consent(*, visitor: str | None, client=None, preference: bool, analytics: bool, marketing: bool):
    """Remember the cookie categories (CMP-8), changeable at any time: a signed-in client's on its
    account, whatever cookie came with the request; a visitor's under its random id."""
    values = {"preference": preference, "analytics": analytics, "marketing": marketing, "updated_at": timezone.now()}
    if getattr(client, "is_authenticated", False):
        consent, _created = CookieConsent.objects.update_or_create(client=client, defaults={**values, "visitor": None})
    else:
        consent, _created = CookieConsent.objects.update_or_create(visitor=visitor, client=None, defaults=values)
    return consent


INCIDENT_NOTICE_HOURS = 72  # CMP-6


def incident_errors(*, discovered_at) -> dict[str, list[str]]:
    if discovered_at is not None and discovered_at > timezone.now():
        return {"discovered_at": ["An incident cannot be discovered in the future."]}
    return {}


def incident_state(incident) -> dict:
    """What an incident's audit compares before and after a staff edit."""
    if incident is None or incident.pk is None:
        return {}
    return {"discovered_at": incident.discovered_at.isoformat(), "description": incident.description,
            "affected": sorted(incident.affected.values_list("pk", flat=True))}


def note_incident_saved(*, incident, before: dict, actor) -> None:
    """CMP-5, CMP-6: a security incident recorded or changed by staff, with what moved; a new
    discovery time moves the 72-hour deadline with it."""
    after = incident_state(incident)
    if before == after:
        return
    changed = {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v and k != "description"}
    if before.get("description") != after["description"]:
        changed["description"] = "changed"
    record(action=Audit.INCIDENT_CHANGED if before else Audit.INCIDENT_RECORDED, actor=actor, target=incident,
           details={**changed, "notify_by": incident.notify_by.isoformat()})


def notify_incident(*, incident, actor) -> int:
    """Email the affected clients about a security incident (CMP-6) and record when; once."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.notified_at is not None:
            return 0
        clients = list(incident.affected.all())
        incident.notified_at, incident.notified_by = timezone.now(), actor
        incident.save(update_fields=["notified_at", "notified_by"])
        record(action=Audit.INCIDENT_NOTIFIED, actor=actor, target=incident, details={"clients": len(clients)})
        for client in clients:  # through the outbox with the mark: sent after the commit, retried until it went
            send_mail_later(
                f"[{django_settings.SITE_NAME}] A security incident may concern your account",
                f"Hello {client.name},\n\nOn {incident.discovered_at:%Y-%m-%d} we discovered a security incident that may concern your data:\n\n"
                f"{incident.description}\n\nWrite to us with any question.\n",
                [client.email],
            )
    return len(clients)


EXPORT_LINK_DAYS = 7


def _send_export(request) -> None:
    """Make the JSON document and email a link to it that expires (CMP-2)."""
    export = PrivacyExport.objects.create(
        request=request, token=secrets.token_urlsafe(32), document=export_person(request.client),
        expires_at=timezone.now() + timezone.timedelta(days=EXPORT_LINK_DAYS),
    )
    client = request.client
    link = f"{django_settings.SITE_URL}/privacy/download/{export.token}/"
    send_mail_later(
        f"[{django_settings.SITE_NAME}] Your data",
        f"Hello {client.name},\n\nYour data is ready as one JSON document: {link}\nThe link works for {EXPORT_LINK_DAYS} days.\n",
        [client.email],
    )


def export_data(*, client) -> dict:
    """Everything every app holds on the client, as one JSON document (CMP-2 access and
    portability), the export audited. For the API and the dashboard alike."""
    record(action=Audit.PRIVACY_EXPORTED, actor=client, target=client, client=client)
    return export_person(client)


def purge_expired_exports(now) -> int:
    return PrivacyExport.objects.filter(expires_at__lt=now).delete()[0]
