"""Thin Celery tasks: each calls one service. Every one is idempotent (acks_late)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from core.tasks import enqueue_at
from projects import services
from projects.funnels import runtime
from projects.models import Project
from projects.sending import broadcasts, messages


@shared_task(acks_late=True)
def purge_project_data(project_id: int) -> int:
    return services.purge_project_data(project_id=project_id)


@shared_task(acks_late=True)
def take_update(project_id: int, event: dict) -> str:
    """A subscriber's `/start`, button press or reply, from the webhook (PRJ-6)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return "no_project"
    outcome = runtime.handle(project=project, event=runtime.Event(**event))
    if event.get("kind") == runtime.PRESS:
        messages.acknowledge_press(project_id=project_id, callback_id=event.get("callback_id", ""), chat_id=event.get("chat_id", ""),
                                   message_id=event.get("message_id", ""))
    return outcome


@shared_task(acks_late=True)
def resume_funnel(subscriber_id: int, funnel_id: int, block: str, token: str) -> str:
    """A delay block's time is up (PRJ-6)."""
    return runtime.resume(subscriber_id=subscriber_id, funnel_id=funnel_id, block=block, token=token)


@shared_task(acks_late=True)
def send_messages(message_ids: list[int]) -> int:
    """Send a funnel's messages in order (MSG-1); what must wait is sent again later."""
    later = messages.send_in_order(message_ids)
    if later is not None:
        enqueue_at(send_messages, later.ids, eta=timezone.now() + timedelta(seconds=later.seconds))
        return len(message_ids) - len(later.ids)
    return len(message_ids)


@shared_task(acks_late=True)
def start_broadcast(broadcast_id: int) -> int:
    return sum(len(chunk) for chunk in broadcasts.start_broadcast(broadcast_id=broadcast_id))


@shared_task(acks_late=True)
def start_due_broadcasts() -> int:
    return len(broadcasts.start_due_broadcasts())


@shared_task(acks_late=True)
def send_broadcast_chunk(broadcast_id: int, message_ids: list[int]) -> int:
    """One chunk of a broadcast (MSG-1), through the shared limiter; a cancelled broadcast's
    messages are marked so as they come up."""
    later = messages.send_in_order(message_ids)
    if later is not None:
        enqueue_at(send_broadcast_chunk, broadcast_id, later.ids, eta=timezone.now() + timedelta(seconds=later.seconds))
        return len(message_ids) - len(later.ids)
    broadcasts.after_chunk(broadcast_id)
    return len(message_ids)
