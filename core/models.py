import json

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.utils.json import JSONEncoder, object_hook


class TaskArgumentsDecoder(json.JSONDecoder):
    """Reads the arguments back as Celery's own JSON would (a datetime stays a datetime)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("object_hook", object_hook)
        super().__init__(*args, **kwargs)


class OutboxMessage(models.Model):
    """A task a committed change needs (issue 17, item 5): written in the change's own transaction
    by `core.tasks.enqueue`, handed to Celery after the commit, and again by the relay
    (`relay_outbox`) until the broker took it. `relayed_at` is set only once it did."""

    task = models.CharField(max_length=200)
    # Kept as Celery's JSON serializer would send them, so the task gets what `enqueue` was given.
    args = models.JSONField(default=list, blank=True, encoder=JSONEncoder, decoder=TaskArgumentsDecoder)
    kwargs = models.JSONField(default=dict, blank=True, encoder=JSONEncoder, decoder=TaskArgumentsDecoder)
    eta = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    relayed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # Set by a task that must not act twice (an email) when a double relay runs it again.
    done_at = models.DateTimeField(null=True, blank=True)
    # The request that queued it, and the client it acted as (issue 17, item 6): sent with the
    # task as message headers, so that the task's log lines name them too. No foreign key: a log
    # field, kept as it was even once the client is gone.
    request_id = models.CharField(max_length=128, blank=True, default="")
    client_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [models.Index(fields=["created_at"], condition=Q(relayed_at__isnull=True), name="outbox_pending")]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk} ({'relayed' if self.relayed_at else 'pending'})"

    @property
    def celery_id(self) -> str:
        """The Celery task id it is sent under: a task finds its row again by it (`core.outbox.once`)."""
        return f"outbox-{self.pk}"
