from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row of an append-only table."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are never changed.")

    def redact(self, **kwargs) -> int:
        """The one sanctioned change: erasing a person's values (CMP-2) from kept rows, by
        `compliance.erasure` alone, which re-seals what it touched."""
        return super().update(**kwargs)

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are never deleted.")


class AppendOnlyModel(models.Model):
    """A row is written once; save() on an existing row and delete() refuse (CMP-5, WAL-1)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are never deleted.")


class AuditLog(AppendOnlyModel):
    """Who did what to whom, and when (CMP-5). Written only through `compliance.services.record`."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # What the actor was called then: the account may be renamed or anonymised later.
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=80)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries", db_index=False
    )
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Only the indexes lookups use: each is written for every entry, thousands a night (the
        # client's own is audit_client_time; most entries are the platform's, without an actor).
        indexes = [
            models.Index(fields=["client", "-created_at"], name="audit_client_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["action"], name="audit_action"),
            models.Index(fields=["actor"], name="audit_actor", condition=Q(actor__isnull=False)),
        ]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action} {self.target_label}"


class LegalDocument(models.Model):
    """One published version of a legal text. The current one of a kind is the newest published."""

    class Kind(models.TextChoices):
        TERMS = "terms", _("Terms of Use")
        PRIVACY = "privacy", _("Privacy Policy")
        COOKIES = "cookies", _("Cookie Policy")
        REFUNDS = "refunds", _("Cancellation and Refund Policy")
        DATA_PROCESSING = "data_processing", _("Data Processing Agreement")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "-published_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="legal_document_kind_version")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"


class LegalAcceptance(AppendOnlyModel):
    """A client's acceptance of one document version, kept as evidence (ACC-1, CMP-1)."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="legal_acceptances")
    document = models.ForeignKey(LegalDocument, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "document"], name="legal_acceptance_once")]

    def __str__(self) -> str:
        return f"client {self.client_id} accepted {self.document}"


class AuditSeal(AppendOnlyModel):
    """One day of the audit log, closed (issue 7, item 10): how many entries it had and a digest of
    them chained to the previous day's digest. `verify_audit_log` recomputes the chain and names
    every day whose entries were changed, added late or removed since."""

    day = models.DateField(help_text=_("A calendar day in UTC."))
    version = models.PositiveSmallIntegerField(default=1, help_text=_("A new version follows a sanctioned redaction (an erasure)."))
    entries = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    previous_digest = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True, help_text=_("Why this day was sealed again."))
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "-version"]
        constraints = [models.UniqueConstraint(fields=["day", "version"], name="audit_seal_day_version")]

    def __str__(self) -> str:
        return f"{self.day}: {self.entries} entries, {self.digest[:12]}…"


class LegalNotice(models.Model):
    """A client was emailed about a published version (CMP-1): once, whatever reruns."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(LegalDocument, on_delete=models.PROTECT, related_name="notices")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "document"], name="legal_notice_once")]

    def __str__(self) -> str:
        return f"client {self.client_id} told of document {self.document_id}"


class Holiday(models.Model):
    """A public holiday: not a working day for complaint deadlines (CMP-4). Seeded from the
    `holidays` library for HOLIDAY_COUNTRY; staff add or remove days in the admin."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class Complaint(models.Model):
    """A complaint (CMP-4, ToU 21.8–21.12): who complains, what right was violated, and when.
    Due 30 working days after receipt. A spam complaint about a project stops its sending until
    staff decide. The project is kept by id: compliance knows no other app (DESIGN.md)."""

    class Kind(models.TextChoices):
        SPAM = "spam", _("Spam")
        PRIVACY = "privacy", _("Privacy")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        UPHELD = "upheld", _("Upheld")
        REJECTED = "rejected", _("Rejected")

    complainant = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="complaints")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OTHER)
    identification = models.TextField(help_text=_("Who complains, and how to reach them."))
    description = models.TextField(help_text=_("What right was violated, and how."))
    period_start = models.DateField()
    period_end = models.DateField()
    project_id = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("The project complained about, if any."))
    matched = models.BooleanField(null=True, blank=True, help_text=_("Whether the complainant is a subscriber or contact of the project (CMP-4)."))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateField()
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(period_end__gte=models.F("period_start")), name="complaint_period_in_order")]
        indexes = [models.Index(fields=["status", "due_at"], name="complaint_open_due")]

    def __str__(self) -> str:
        return f"complaint {self.pk} ({self.kind}, due {self.due_at})"


class PrivacyRequest(models.Model):
    """A data subject request (CMP-2, GDPR Art. 15–21): from a client about itself, or from a
    subscriber through the client or staff (`subject_email`). Due one month after receipt; staff
    may extend by up to two more months with a reason (Art. 12(3))."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        RESTRICTION = "restriction", _("Restriction")
        OBJECTION = "objection", _("Objection (marketing included)")
        PORTABILITY = "portability", _("Portability")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        FULFILLED = "fulfilled", _("Fulfilled")
        REFUSED = "refused", _("Refused")

    client = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="privacy_requests")
    subject_email = models.EmailField(blank=True, help_text=_("For a subscriber's request made through the client or staff."))
    subject_phone = models.CharField(max_length=20, blank=True, help_text=_("Or the subscriber's phone, international (+4915112345678)."))
    kind = models.CharField(max_length=14, choices=Kind.choices)
    details = models.TextField(blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateField()
    extension_reason = models.CharField(max_length=300, blank=True)
    staff_note = models.TextField(blank=True, help_text=_("The answer, or why it was refused."))
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        permissions = [("fulfil_privacy_request", "Can fulfil or refuse a privacy request (CMP-2)")]
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="privacy_request_open_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request {self.pk} (due {self.due_at})"


class MarketingConsent(AppendOnlyModel):
    """Newsletters and offers (CMP-3), apart from the service: each change is a row, so the time
    of every consent and withdrawal is kept; the newest row is in force."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="marketing_consents")
    given = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"client {self.client_id}: marketing {'given' if self.given else 'withdrawn'} at {self.at:%Y-%m-%d %H:%M}"


class CookieConsent(models.Model):
    """The categories of cookies a visitor (signed in or not) accepted (CMP-8). Essential cookies
    need no consent and are always on."""

    # A visitor's answer by the random id in its own cookie; a client's by its account (CMP-8).
    visitor = models.CharField(max_length=64, null=True, blank=True, help_text=_("A random id kept in the visitor's cookie."))  # noqa: DJ001 (unique where set)
    client = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    preference = models.BooleanField(default=False)
    analytics = models.BooleanField(default=False)
    marketing = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visitor"], name="cookie_consent_visitor_once", condition=Q(visitor__isnull=False)),
            models.UniqueConstraint(fields=["client"], name="cookie_consent_client_once", condition=Q(client__isnull=False)),
            models.CheckConstraint(condition=Q(visitor__isnull=True) | Q(client__isnull=True), name="cookie_consent_visitor_or_client"),
        ]

    def __str__(self) -> str:
        return f"cookie choices of client {self.client_id}" if self.client_id else f"cookie choices of visitor {(self.visitor or '')[:8]}…"


class Incident(models.Model):
    """A security incident (CMP-6, `003`): the affected clients must be told within 72 hours of
    its discovery; the admin shows those near or past that deadline."""

    discovered_at = models.DateTimeField()
    description = models.TextField()
    affected = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    notified_at = models.DateTimeField(null=True, blank=True)
    notified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-discovered_at"]

    def __str__(self) -> str:
        return f"incident {self.pk} discovered {self.discovered_at:%Y-%m-%d %H:%M}"

    @property
    def notify_by(self):
        return self.discovered_at + timezone.timedelta(hours=72)


class PrivacyExport(models.Model):
    """An access or portability answer (CMP-2): one JSON document, downloadable by a link that
    expires; retention deletes it once expired (CMP-7)."""

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="exports")
    token = models.CharField(max_length=64, unique=True)
    document = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    downloaded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export for request {self.request_id}, expires {self.expires_at:%Y-%m-%d}"
