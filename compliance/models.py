from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row of an append-only table."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are never changed.")

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
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the actor was called then: the account may be renamed or anonymised later.
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["client", "-created_at"], name="audit_client_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action} {self.target_label}"


class LegalDocument(models.Model):
    """One published version of a legal text. The current one of a kind is the newest published."""

    class Kind(models.TextChoices):
        TERMS = "terms", "Terms of Use"
        PRIVACY = "privacy", "Privacy Policy"
        COOKIES = "cookies", "Cookie Policy"
        REFUNDS = "refunds", "Cancellation and Refund Policy"
        DATA_PROCESSING = "data_processing", "Data Processing Agreement"

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
        return f"{self.client_id} accepted {self.document}"


class AuditSeal(AppendOnlyModel):
    """One day of the audit log, closed (issue 7, item 10): how many entries it had and a digest of
    them chained to the previous day's digest. `verify_audit_log` recomputes the chain and names
    every day whose entries were changed, added late or removed since."""

    day = models.DateField(unique=True, help_text="A calendar day in UTC.")
    entries = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    previous_digest = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.entries} entries, {self.digest[:12]}…"


class LegalNotice(models.Model):
    """A client was emailed about a published version (CMP-1): once, whatever reruns."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(LegalDocument, on_delete=models.PROTECT, related_name="notices")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "document"], name="legal_notice_once")]
