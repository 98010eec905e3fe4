"""Broadcasts (MSG-1): a message to a project's active subscribers, all or those with a tag, now
or at a time. When it starts, one message row is written for each recipient in one statement (the
database's unique key makes a second impossible), then chunks go out through the same limiter as
every message; it can be cancelled while it runs, and it counts what happened to each."""

from datetime import datetime, timedelta

from celery import current_app
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Client
from compliance.services import record
from core.exceptions import RuleRefused
from core.tasks import enqueue, enqueue_at
from projects.audit_actions import Audit
from projects.funnels.spec import MAX_TEXT, UNPRINTABLE
from projects.models import Broadcast, OutboundMessage, Project, Subscriber, SubscriberTag
from projects.selectors import bot_of
from projects.sending.gates import check_may_send
from projects.services import check_project_writable

Status = Broadcast.Status
CHUNK = 500
START_TASK = "projects.tasks.start_broadcast"
CHUNK_TASK = "projects.tasks.send_broadcast_chunk"


def recipients_of(project: Project, tag: str = ""):
    """The subscribers a broadcast reaches: active, with a chat with the bot, with the tag if one."""
    chosen = Subscriber.objects.filter(project=project, status=Subscriber.Status.ACTIVE, messenger=Subscriber.Messenger.TELEGRAM)
    if tag:
        chosen = chosen.filter(pk__in=SubscriberTag.objects.filter(project=project, name=tag).values("subscriber_id"))
    return chosen


def create_broadcast(*, project: Project, actor: Client, text: str, tag: str = "", send_at: datetime | None = None) -> Broadcast:
    """A client sends a message to its project's subscribers (MSG-1): refused when the project may
    not send (409 `project_may_not_send`), has no bot (409 `no_bot`) or the text is empty, too long
    or unprintable (400 `invalid_message`). Starts at `send_at`, or at once."""
    now = timezone.now()
    text, tag = text.strip(), tag.strip()
    if not text or len(text) > MAX_TEXT or UNPRINTABLE.search(text) or UNPRINTABLE.search(tag):
        raise RuleRefused("invalid_message", gettext_noop("A message has from 1 to 4,096 characters that can be sent."), status=400)
    if send_at is not None and send_at > now + timedelta(days=365):
        raise RuleRefused("invalid_message", gettext_noop("A broadcast is sent within a year."), status=400)
    with transaction.atomic():
        project = Project.objects.select_related("owner").get(pk=project.pk)  # its owner's state now, not when the request began
        check_project_writable(project=project, actor=actor)
        check_may_send(project)
        if bot_of(project_id=project.pk) is None:
            raise RuleRefused("no_bot", gettext_noop("Connect the project's Telegram bot first."))
        broadcast = Broadcast.objects.create(
            project=project, text=text, tag=tag, send_at=max(send_at or now, now), created_by=actor,
            recipients=recipients_of(project, tag).count(),
        )
        record(action=Audit.BROADCAST_CREATED, actor=actor, target=broadcast, client=project.owner,
               details={"tag": tag, "send_at": broadcast.send_at.isoformat(), "recipients": broadcast.recipients})
        enqueue_at(START_TASK, broadcast.pk, eta=broadcast.send_at if broadcast.send_at > now else None)
    return broadcast


_MESSAGES = OutboundMessage._meta.db_table


def start_broadcast(*, broadcast_id: int) -> list[list[int]]:
    """Fix the recipients and queue one message each, in one INSERT … SELECT; then hand out the
    chunks. A second start (a retried task) finds the broadcast started and does nothing.
    Returns the chunks of message ids handed out."""
    now = timezone.now()
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().select_related("project__owner").filter(pk=broadcast_id).first()
        if broadcast is None or broadcast.status != Status.SCHEDULED:
            return []
        if broadcast.send_at > now + timedelta(seconds=1):
            if current_app.conf.task_always_eager:
                pass  # the inline Celery of development has no clock to wait on: it starts now
            else:
                enqueue_at(START_TASK, broadcast.pk, eta=broadcast.send_at)  # woke early (a broker's eta is not exact)
                return []
        recipients = recipients_of(broadcast.project, broadcast.tag).order_by("pk").values("id")
        sql, params = recipients.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_MESSAGES} (project_id, subscriber_id, broadcast_id, funnel_id, block, text, buttons, status, attempts,"
                f" error, telegram_message_id, created_at) SELECT %s, sub.id, %s, NULL, '', %s, %s, %s, 0, '', '', %s FROM ({sql}) sub",
                [broadcast.project_id, broadcast.pk, broadcast.text, "[]", OutboundMessage.Status.QUEUED, now, *params],
            )
            count = cursor.rowcount
        broadcast.status, broadcast.started_at, broadcast.recipients = Status.SENDING, now, count
        broadcast.save(update_fields=["status", "started_at", "recipients"])
        ids = list(OutboundMessage.objects.filter(broadcast=broadcast).order_by("pk").values_list("pk", flat=True))
        chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
        for chunk in chunks:
            enqueue(CHUNK_TASK, broadcast.pk, chunk)
        if not chunks:
            after_chunk(broadcast.pk)
    return chunks


def start_due_broadcasts(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled broadcast whose time has come (every minute, from beat): its own
    task with an `eta` normally has, but a broker may lose or redeliver one."""
    now = now or timezone.now()
    due = list(Broadcast.objects.filter(status=Status.SCHEDULED, send_at__lte=now).values_list("pk", flat=True)[:100])
    return [pk for pk in due if start_broadcast(broadcast_id=pk)]


def after_chunk(broadcast_id: int) -> bool:
    """Mark a broadcast done once none of its messages waits; True when this call did."""
    waiting = OutboundMessage.objects.filter(broadcast_id=broadcast_id, status__in=[OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING])
    done = Broadcast.objects.filter(pk=broadcast_id, status=Status.SENDING).exclude(pk__in=waiting.values("broadcast_id")).update(
        status=Status.DONE, finished_at=timezone.now(),
    )
    return done == 1


@transaction.atomic
def cancel_broadcast(*, broadcast: Broadcast, actor: Client, by_staff: bool = False) -> Broadcast:
    """Stop a broadcast: what is not sent yet is not sent (MSG-1). A finished one is refused.
    `by_staff`: from the console, whom the owner's block does not hold back."""
    broadcast = Broadcast.objects.select_for_update().select_related("project__owner").get(pk=broadcast.pk)
    if not by_staff:
        check_project_writable(project=broadcast.project, actor=actor)
    if not broadcast.is_running:
        raise RuleRefused("broadcast_finished", gettext_noop("This broadcast has finished: there is nothing left to cancel."))
    broadcast.status, broadcast.finished_at, broadcast.cancelled_by = Status.CANCELLED, timezone.now(), actor
    broadcast.save(update_fields=["status", "finished_at", "cancelled_by"])
    OutboundMessage.objects.filter(broadcast=broadcast, status=OutboundMessage.Status.QUEUED).update(status=OutboundMessage.Status.CANCELLED)
    record(action=Audit.BROADCAST_CANCELLED, actor=actor, target=broadcast, client=broadcast.project.owner)
    return broadcast


def _counted() -> dict:
    S = OutboundMessage.Status
    return {
        "sent": Count("pk", filter=Q(status=S.SENT)),
        "failed": Count("pk", filter=Q(status__in=[S.FAILED, S.SKIPPED])),
        "blocked": Count("pk", filter=Q(status=S.BLOCKED)),
        "cancelled": Count("pk", filter=Q(status=S.CANCELLED)),
        "waiting": Count("pk", filter=Q(status__in=[S.QUEUED, S.SENDING])),
    }


NO_MESSAGES = {"sent": 0, "failed": 0, "blocked": 0, "cancelled": 0, "waiting": 0}


def counts_of(broadcast: Broadcast) -> dict[str, int]:
    """How many of a broadcast's messages went, failed (or were not sent: the project may not
    send), met a blocked bot, were cancelled, or wait (one query)."""
    return OutboundMessage.objects.filter(broadcast=broadcast).aggregate(**_counted())


def counts_for(rows: list[Broadcast]) -> list[Broadcast]:
    """`counts_of` for a page of broadcasts in one query, set on each row, with `done` (sent,
    failed or blocked) for a progress bar."""
    totals = {
        row.pop("broadcast"): row
        for row in OutboundMessage.objects.filter(broadcast__in=[b.pk for b in rows]).order_by().values("broadcast").annotate(**_counted())
    }
    for broadcast in rows:
        for name, value in totals.get(broadcast.pk, NO_MESSAGES).items():
            setattr(broadcast, name, value)
        broadcast.done = broadcast.sent + broadcast.failed + broadcast.blocked
    return rows
