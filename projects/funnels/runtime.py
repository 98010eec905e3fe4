"""The funnel runtime (PRJ-6, MSG-1): a Telegram update from a subscriber moves it along its
funnel. `/start` enters the project's first funnel (or, with a deep link `/start <id>`, the funnel
with that id) at its start block; a button press enters the block the button leads to; a delay
waits in a scheduled task. Each entry is recorded and checked by the loop guard. Only active
projects of unrestricted owners run, and only for subscribed subscribers (PRJ-2, DUN-2, PRJ-7,
CMP-4, PRJ-3); messages are queued here and sent by their own task, never inside this transaction."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.tasks import enqueue_at
from projects.funnels import loop_guard
from projects.models import Block, Funnel, FunnelState, FunnelStep, OutboundMessage, Project, Subscriber, SubscriberTag
from projects.sending import messages
from projects.sending.gates import may_message
from projects.services import unsubscribe

Kind, Action, Via = Block.Kind, Block.Action, FunnelStep.Via
MAX_ENTRIES_PER_RUN = 50  # blocks that need no answer chain on; a loop among them meets the guard first
RESUME_TASK = "projects.tasks.resume_funnel"


@dataclass(frozen=True)
class Event:
    """What a subscriber did, as the webhook read it from an Update."""

    kind: str  # "start", "press" or "reply"
    user: str
    payload: str = ""  # /start's deep link, a button's callback data, or a reply's text
    callback_id: str = ""
    chat_id: str = ""
    message_id: str = ""


START, PRESS, REPLY = "start", "press", "reply"


@dataclass
class Run:
    subscriber: Subscriber
    state: FunnelState
    funnel: Funnel
    blocks: dict[str, Block]
    now: datetime
    queued: list[OutboundMessage]
    stopped: bool = False


def _subscriber(project: Project, user: str) -> Subscriber | None:
    return (Subscriber.objects.select_for_update().filter(project=project, messenger=Subscriber.Messenger.TELEGRAM, messenger_user_id=user)
            .first())


def _funnel_for_start(project: Project, payload: str) -> Funnel | None:
    funnels = Funnel.objects.filter(project=project)
    if payload.isdigit() and len(payload) < 19:
        named = funnels.filter(pk=int(payload)).first()
        if named is not None:
            return named
    return funnels.order_by("pk").first()


def _blocks(funnel: Funnel) -> dict[str, Block]:
    return {block.key: block for block in funnel.blocks.all()}


def handle(*, project: Project, event: Event, now: datetime | None = None) -> str:
    """Move the subscriber of `event` along its funnel. Returns what happened: `ran`, `stopped`
    (a loop), or why nothing did (`not_running`, `no_subscriber`, `no_funnel`, `no_block`)."""
    now = now or timezone.now()
    with transaction.atomic():
        project = Project.objects.select_related("owner").get(pk=project.pk)
        subscriber = _subscriber(project, event.user)
        if subscriber is None:
            return "no_subscriber"
        if not may_message(project, subscriber):
            return "not_running"
        state, _ = FunnelState.objects.select_for_update().get_or_create(subscriber=subscriber)
        if event.kind == START:
            funnel = _funnel_for_start(project, event.payload)
            if funnel is None:
                return "no_funnel"
            if loop_guard.restarted_too_soon(subscriber_id=subscriber.pk, funnel_id=funnel.pk, now=now):
                return "too_soon"
            run = Run(subscriber, state, funnel, _blocks(funnel), now, [])
            _enter(run, funnel.start, Via.START)
        else:
            funnel = Funnel.objects.filter(pk=state.funnel_id, project=project).first() if state.funnel_id else None
            if funnel is None:
                return "no_funnel"
            run = Run(subscriber, state, funnel, _blocks(funnel), now, [])
            target = _answer_target(run, event)
            if target is None:
                return "no_block"
            _enter(run, target, Via.BUTTON if event.kind == PRESS else Via.REPLY)
        _save(run)
    return "stopped" if run.stopped else "ran"


def _answer_target(run: Run, event: Event) -> str | None:
    """The block a press or a reply leads to: a button of the block the subscriber stands on (a
    stale keyboard from an earlier block leads nowhere), matched by its target or, for a typed
    reply, by its text."""
    current = run.blocks.get(run.state.block)
    if current is None or current.kind != Kind.MESSAGE:
        return None
    for button in current.buttons:
        if (event.kind == PRESS and button["next"] == event.payload) or (event.kind == REPLY and button["text"].strip().lower() == event.payload.strip().lower()):
            return button["next"] if button["next"] in run.blocks else None
    return None


def resume(*, subscriber_id: int, funnel_id: int, block: str, token: str, now: datetime | None = None) -> str:
    """A delay ran out: go on at `block`, unless the subscriber has moved since (another token)."""
    now = now or timezone.now()
    with transaction.atomic():
        state = FunnelState.objects.select_for_update().select_related("subscriber__project__owner").filter(subscriber_id=subscriber_id).first()
        if state is None or state.waiting_for != token or state.funnel_id != funnel_id:
            return "overtaken"
        subscriber = state.subscriber
        if not may_message(subscriber.project, subscriber):
            return "not_running"
        funnel = Funnel.objects.get(pk=funnel_id)
        state.waiting_for = ""
        run = Run(subscriber, state, funnel, _blocks(funnel), now, [])
        _enter(run, block, Via.DELAY)
        _save(run)
    return "stopped" if run.stopped else "ran"


def _enter(run: Run, key: str, via: str) -> None:
    """Enter `key` and go on through every block that needs no answer from the subscriber."""
    run.state.funnel, run.state.waiting_for = run.funnel, ""
    for _ in range(MAX_ENTRIES_PER_RUN):
        block = run.blocks.get(key)
        if block is None:
            run.state.block = ""  # the funnel ends here (or its block is gone)
            return
        run.state.block = key
        FunnelStep.objects.create(subscriber=run.subscriber, funnel=run.funnel, block=key, via=via, entered_at=run.now)
        if loop_guard.is_loop(subscriber_id=run.subscriber.pk, funnel=run.funnel, block=key, now=run.now):
            loop_guard.stop_loop(funnel=run.funnel, block=key, subscriber_id=run.subscriber.pk, now=run.now)
            run.stopped, run.queued, run.state.block = True, [], ""
            return
        following = _act(run, block)
        if following is None:
            return
        key, via = following, Via.NEXT
    run.state.block = ""  # more than MAX_ENTRIES_PER_RUN without an answer: stop rather than spin


def _act(run: Run, block: Block) -> str | None:
    """Do what the block does; the block to go on to at once, or None to wait (or end)."""
    if block.kind == Kind.MESSAGE:
        run.queued.append(OutboundMessage(
            project_id=run.funnel.project_id, subscriber=run.subscriber, funnel=run.funnel, block=block.key, text=block.text,
            buttons=block.buttons, created_at=run.now,
        ))
        return None if block.buttons else (block.next or None)
    if block.kind == Kind.DELAY:
        token = secrets.token_hex(8)
        run.state.waiting_for = token
        enqueue_at(RESUME_TASK, run.subscriber.pk, run.funnel.pk, block.next, token, eta=run.now + timedelta(seconds=block.delay_seconds))
        return None
    if block.kind == Kind.CONDITION:
        return (block.next if _holds(run, block) else block.else_next) or None
    if block.kind == Kind.ACTION:
        _apply(run, block)
        return None if run.subscriber.status != Subscriber.Status.ACTIVE else (block.next or None)
    return block.next or None  # a go-to


def _holds(run: Run, block: Block) -> bool:
    if block.tag:
        return SubscriberTag.objects.filter(subscriber=run.subscriber, name=block.tag).exists()
    return str(run.state.fields.get(block.field, "")) == block.value


def _apply(run: Run, block: Block) -> None:
    if block.action == Action.SET_FIELD:
        run.state.fields = {**run.state.fields, block.field: block.value}
    elif block.action == Action.ADD_TAG:
        SubscriberTag.objects.get_or_create(subscriber=run.subscriber, project_id=run.funnel.project_id, name=block.tag)
    elif block.action == Action.REMOVE_TAG:
        SubscriberTag.objects.filter(subscriber=run.subscriber, name=block.tag).delete()
    elif block.action == Action.UNSUBSCRIBE:
        run.subscriber = unsubscribe(subscriber=run.subscriber, actor=None)
        run.state.block = ""


def _save(run: Run) -> None:
    run.state.updated_at = run.now
    run.state.save()
    messages.queue(run.queued)
