"""Every message a project sends and its outcome (MSG-1): queued as a row, then delivered by a
task through the channel port and the shared limiter. A `429` waits its `retry_after`, a
transient failure backs off, a `403` means the subscriber blocked the bot and has left (PRJ-3).
Nothing waits on Telegram inside an open transaction."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.tasks import enqueue
from projects.channels import Button, Outcome, Outgoing, get_channel, limiter
from projects.models import Broadcast, OutboundMessage, Subscriber
from projects.selectors import bot_of
from projects.sending.bots import token_of
from projects.sending.gates import may_message
from projects.services import unsubscribe

logger = logging.getLogger(__name__)
Status = OutboundMessage.Status
MAX_ATTEMPTS = 6
RECLAIM_AFTER = timedelta(minutes=5)  # a worker that died mid-send leaves `sending`: taken again after this
SEND_TASK = "projects.tasks.send_messages"


def queue(messages: list[OutboundMessage]) -> list[int]:
    """Store messages (in the caller's transaction) and send them in this order once it commits,
    one task for the lot, so that a funnel's messages reach the chat in the funnel's order."""
    if not messages:
        return []
    created = OutboundMessage.objects.bulk_create(messages)
    ids = [m.pk for m in created]
    enqueue(SEND_TASK, ids)
    return ids


@dataclass(frozen=True)
class Later:
    """What is left to send and when to try: the task sends it again then."""

    ids: list[int]
    seconds: float


def _claim(message_id: int, now) -> bool:
    taken = OutboundMessage.objects.filter(
        Q(status=Status.QUEUED) | Q(status=Status.SENDING, claimed_at__lt=now - RECLAIM_AFTER), pk=message_id,
    ).update(status=Status.SENDING, claimed_at=now)
    return taken == 1


def _finish(message: OutboundMessage, status: str, *, error: str = "", message_id: str = "", now=None) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=status, error=error[:200], telegram_message_id=message_id, sent_at=now if status == Status.SENT else None,
        attempts=message.attempts + 1,
    )


def _release(message: OutboundMessage, *, error: str = "", tried: bool) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.QUEUED, claimed_at=None, error=error[:200], attempts=message.attempts + (1 if tried else 0),
    )


def _backoff(attempts: int) -> float:
    return float(min(2 ** attempts, 300))


def deliver(message_id: int, *, channel=None) -> float:
    """Send one queued message. Returns 0 when it is done with (sent, failed, blocked, skipped,
    cancelled, or taken by another worker), else the seconds after which to try it again."""
    now = timezone.now()
    if not _claim(message_id, now):
        return 0.0
    message = OutboundMessage.objects.select_related("subscriber", "project__owner", "broadcast").get(pk=message_id)
    if message.broadcast_id and message.broadcast.status == Broadcast.Status.CANCELLED:
        _finish(message, Status.CANCELLED)
        return 0.0
    if not may_message(message.project, message.subscriber):
        _finish(message, Status.SKIPPED, error="The project may not send, or the subscriber left.")
        return 0.0
    bot = bot_of(project_id=message.project_id)
    if bot is None or not message.subscriber.messenger_user_id:
        _finish(message, Status.FAILED, error="No bot connected, or the subscriber has no chat with it.")
        return 0.0
    chat = message.subscriber.messenger_user_id
    # All but the request itself before the slot is taken: the limiter's margin (0.1 s) covers a
    # slot's milliseconds to Telegram, not a channel's first use in a process (its module
    # imported, ~0.1-0.2 s), which bunched each worker's first message with the next second's.
    channel, token = channel or get_channel(), token_of(bot)
    outgoing = Outgoing(chat_id=chat, text=message.text, buttons=tuple(Button(text=b["text"], data=b["next"]) for b in message.buttons))
    wait = limiter.wait_for_slot(bot=str(bot.bot_id), chat=chat, group=chat.startswith("-"))
    if wait > 0:
        _release(message, tried=False)
        return wait
    delivery = channel.send(token=token, message=outgoing)
    if delivery.outcome == Outcome.SENT:
        _finish(message, Status.SENT, message_id=delivery.message_id, now=timezone.now())
        return 0.0
    if delivery.outcome == Outcome.BLOCKED:
        _finish(message, Status.BLOCKED, error=delivery.error)
        _left(message.subscriber)
        return 0.0
    if delivery.outcome == Outcome.RETRY and message.attempts + 1 < MAX_ATTEMPTS:
        if delivery.retry_after:
            limiter.hold(bot=str(bot.bot_id), seconds=delivery.retry_after)  # Telegram said so for the whole bot
        _release(message, error=delivery.error, tried=True)
        return delivery.retry_after or _backoff(message.attempts)
    _finish(message, Status.FAILED, error=delivery.error)
    return 0.0


def _left(subscriber: Subscriber) -> None:
    """The subscriber blocked the bot: it has left and is never messaged again (PRJ-3)."""
    with transaction.atomic():
        unsubscribe(subscriber=subscriber, actor=None)
        OutboundMessage.objects.filter(subscriber_id=subscriber.pk, status=Status.QUEUED).update(
            status=Status.SKIPPED, error="The subscriber blocked the bot.",
        )


def send_in_order(message_ids: list[int], *, channel=None) -> Later | None:
    """Deliver messages one after another; at the first that must wait, stop and say what is left
    (the order in a chat holds). None when all are done with."""
    for index, message_id in enumerate(message_ids):
        wait = deliver(message_id, channel=channel)
        if wait > 0:
            return Later(ids=message_ids[index:], seconds=wait)
    return None


def acknowledge_press(*, project_id: int, callback_id: str, chat_id: str = "", message_id: str = "", channel=None) -> None:
    """Every button press is answered (`answerCallbackQuery`, so the button stops spinning), and
    the keyboard it came from is taken off its message (`editMessageReplyMarkup`), so that an old
    question cannot be answered twice. Best effort: Telegram's refusal changes nothing here."""
    bot = bot_of(project_id=project_id)
    if bot is None or not callback_id:
        return
    channel, token = channel or get_channel(), token_of(bot)
    channel.answer_callback(token=token, callback_id=callback_id)
    if chat_id and message_id:
        channel.clear_buttons(token=token, chat_id=chat_id, message_id=message_id)
