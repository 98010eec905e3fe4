"""Funnels (PRJ-6): blocks with one start block and the transitions between them, and where each
subscriber stands in them, with every step it took (the loop guard counts those)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from projects.models.projects import Project, Subscriber

KEY_LENGTH = 32


class Funnel(models.Model):
    """A project's funnel. A subscriber's `/start` enters the project's first funnel at its start
    block; `/start <id>` (a deep link) enters the funnel with that id."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="funnels")
    name = models.CharField(max_length=120)
    start = models.CharField(max_length=KEY_LENGTH, help_text=_("The key of the block a subscriber enters first."))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When the loop guard last stopped it: entries before then never count toward another loop,
    # so that blocks restored by staff start with a clean slate (PRJ-6).
    loop_stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Block(models.Model):
    """One block of a funnel. What each kind uses: a message its text and buttons (each leads to a
    block) or `next`; a delay its seconds, then `next`; a condition its field and value or its
    tag, then `next` when it holds and `else_next` when not; an action sets a field, adds or
    removes a tag or unsubscribes, then `next`; a go-to only `next`."""

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        DELAY = "delay", _("Delay")
        CONDITION = "condition", _("Condition")
        ACTION = "action", _("Action")
        GOTO = "goto", _("Go to")

    class Action(models.TextChoices):
        SET_FIELD = "set_field", _("Set a field")
        ADD_TAG = "add_tag", _("Add a tag")
        REMOVE_TAG = "remove_tag", _("Remove a tag")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")

    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="blocks")
    key = models.CharField(max_length=KEY_LENGTH)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    position = models.PositiveIntegerField(default=0)
    text = models.TextField(blank=True, default="")
    buttons = models.JSONField(default=list, blank=True, help_text=_("[{text, next}]"))
    next = models.CharField(max_length=KEY_LENGTH, blank=True, default="")
    else_next = models.CharField(max_length=KEY_LENGTH, blank=True, default="")
    delay_seconds = models.PositiveIntegerField(null=True, blank=True)
    action = models.CharField(max_length=12, choices=Action.choices, blank=True, default="")
    field = models.CharField(max_length=64, blank=True, default="")
    value = models.CharField(max_length=256, blank=True, default="")
    tag = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["funnel", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["funnel", "key"], name="block_key_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} “{self.key}”"


class SubscriberTag(models.Model):
    """A tag on a subscriber, set by a funnel's action; broadcasts choose their recipients by it
    (MSG-1), so it is a row the database can filter on, the project beside it for the index."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="tags")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "name"], name="subscriber_tag_once")]
        indexes = [models.Index(fields=["project", "name"], name="subscriber_tag_by_project")]

    def __str__(self) -> str:
        return self.name


class FunnelState(models.Model):
    """Where a subscriber stands: the funnel and block it is in, the fields funnels set on it,
    and the token of the delay it waits for (a delay's task that finds another token does nothing,
    so a retried or overtaken task is harmless)."""

    subscriber = models.OneToOneField(Subscriber, on_delete=models.CASCADE, primary_key=True, related_name="funnel_state")
    funnel = models.ForeignKey(Funnel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    block = models.CharField(max_length=KEY_LENGTH, blank=True, default="")
    fields = models.JSONField(default=dict, blank=True)
    waiting_for = models.CharField(max_length=40, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"subscriber {self.subscriber_id} at {self.block or '—'}"


class FunnelStep(models.Model):
    """One entry of a subscriber into a block. The loop guard (PRJ-6) counts a subscriber's entries
    into one block over the last 60 minutes from the index alone."""

    class Via(models.TextChoices):
        START = "start", _("/start and what it led to")
        BUTTON = "button", _("Button")
        NEXT = "next", _("Next")
        DELAY = "delay", _("After a delay")
        REPLY = "reply", _("Reply")

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="steps")
    block = models.CharField(max_length=KEY_LENGTH)
    via = models.CharField(max_length=8, choices=Via.choices)
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-entered_at", "-id"]
        indexes = [models.Index(fields=["subscriber", "funnel", "block", "entered_at"], name="funnel_step_window")]

    def __str__(self) -> str:
        return f"subscriber {self.subscriber_id} → {self.block}"



