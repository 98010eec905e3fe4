"""A project's bot and what it sends (MSG-1): every message with its outcome, and broadcasts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from projects.models.funnels import Funnel
from projects.models.projects import Project, Subscriber

CLIENT_MODEL = settings.AUTH_USER_MODEL


class ProjectBot(models.Model):
    """The project's Telegram bot: its token, encrypted (never shown again once entered), and the
    name Telegram's `getMe` gave for it."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True, related_name="bot")
    token_encrypted = models.TextField()
    bot_id = models.BigIntegerField()
    username = models.CharField(max_length=64)
    name = models.CharField(max_length=128, blank=True, default="")
    connected_at = models.DateTimeField(default=timezone.now)
    connected_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"@{self.username}"


class Broadcast(models.Model):
    """A message to a project's active subscribers, all or those with a tag, now or at a time
    (MSG-1). Its recipients are fixed when it starts: one message row each, so none gets two."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="broadcasts")
    text = models.TextField()
    tag = models.CharField(max_length=64, blank=True, default="")
    send_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    recipients = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"], name="broadcast_project_created")]

    def __str__(self) -> str:
        return gettext("Broadcast %(id)s of project %(project)s") % {"id": self.pk, "project": self.project_id}

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.SCHEDULED, self.Status.SENDING)


class OutboundMessage(models.Model):
    """One message to one subscriber, from a funnel's block or a broadcast, and its outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        BLOCKED = "blocked", _("Bot blocked by the subscriber")
        SKIPPED = "skipped", _("Not sent: the project may not send")
        CANCELLED = "cancelled", _("Cancelled")

    FINAL = (Status.SENT, Status.FAILED, Status.BLOCKED, Status.SKIPPED, Status.CANCELLED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="messages")
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    funnel = models.ForeignKey(Funnel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    block = models.CharField(max_length=32, blank=True, default="")
    text = models.TextField()
    buttons = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")
    telegram_message_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # A broadcast reaches each chosen subscriber exactly once (MSG-1).
            models.UniqueConstraint(fields=["broadcast", "subscriber"], condition=Q(broadcast__isnull=False), name="broadcast_message_once"),
        ]
        indexes = [
            models.Index(fields=["broadcast", "status"], name="message_broadcast_status", condition=Q(broadcast__isnull=False)),
            models.Index(fields=["project", "created_at"], name="message_project_created"),
        ]

    def __str__(self) -> str:
        return gettext("Message %(id)s to subscriber %(subscriber)s (%(status)s)") % {
            "id": self.pk, "subscriber": self.subscriber_id, "status": self.get_status_display()}
