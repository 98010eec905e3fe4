"""MSG-1 broadcasts: to a project's active subscribers (or those with a tag), each exactly once,
counted, cancellable while they run; refused when the project may not send."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from accounts import services as accounts
from core.exceptions import RuleRefused
from projects.models import Broadcast, OutboundMessage, Subscriber, SubscriberTag
from projects.sending import broadcasts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager():
    """Tasks inline, as the suite runs them; a test that plays a broker turns it off for a while."""
    yield
    current_app.conf.task_always_eager = True


def subscribers(project, count: int, *, first: int = 100) -> list[Subscriber]:
    now = timezone.now()
    return Subscriber.objects.bulk_create(
        Subscriber(project=project, messenger="telegram", messenger_user_id=str(first + i), source="telegram", consent_at=now,
                   consent_source="Telegram /start", subscribed_at=now)
        for i in range(count)
    )


def test_msg1_a_broadcast_reaches_each_active_subscriber_once_and_counts(bot_project, telegram, django_capture_on_commit_callbacks):
    people = subscribers(bot_project, 5)
    Subscriber.objects.filter(pk=people[0].pk).update(status="unsubscribed", unsubscribed_at=timezone.now())
    telegram.fail_chat(str(people[1].messenger_user_id), status=403)
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="Sale today")
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipients) == ("done", 4)
    assert broadcasts.counts_of(broadcast) == {"sent": 3, "failed": 0, "blocked": 1, "cancelled": 0, "waiting": 0}
    assert sorted(b["chat_id"] for b in telegram.sent()) == sorted(p.messenger_user_id for p in people[1:])
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts.start_broadcast(broadcast_id=broadcast.pk) == []  # a retried start adds nobody
    assert OutboundMessage.objects.filter(broadcast=broadcast).count() == 4


def test_msg1_a_broadcast_by_tag_reaches_only_the_tagged(bot_project, telegram, django_capture_on_commit_callbacks):
    people = subscribers(bot_project, 4)
    SubscriberTag.objects.bulk_create(SubscriberTag(subscriber=p, project=bot_project, name="vip") for p in people[:2])
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="For VIPs", tag="vip")
    assert sorted(b["chat_id"] for b in telegram.sent()) == sorted(p.messenger_user_id for p in people[:2])


def test_msg1_a_broadcast_at_a_time_waits_for_it(bot_project, telegram, monkeypatch):
    from projects.sending import broadcasts as module

    current_app.conf.task_always_eager = False  # with a broker, whose eta can wake a task early (put back by `eager`)

    scheduled = []
    monkeypatch.setattr(module, "enqueue_at", lambda task, *args, eta: scheduled.append((task, args, eta)))
    subscribers(bot_project, 2)
    at = timezone.now() + timedelta(hours=3)
    broadcast = broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="Later", send_at=at)
    assert scheduled == [("projects.tasks.start_broadcast", (broadcast.pk,), at)]
    assert broadcasts.start_broadcast(broadcast_id=broadcast.pk) == []  # woken early: put back, nothing queued
    assert broadcast.messages.count() == 0 and telegram.sent() == []
    assert scheduled[-1] == ("projects.tasks.start_broadcast", (broadcast.pk,), at)


def test_msg1_cancelling_a_running_broadcast_stops_what_has_not_gone(bot_project, telegram):
    subscribers(bot_project, 6)
    broadcast = broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="Stop me")
    [chunk] = broadcasts.start_broadcast(broadcast_id=broadcast.pk)
    from projects.sending import messages

    messages.send_in_order(chunk[:2])
    broadcasts.cancel_broadcast(broadcast=broadcast, actor=bot_project.owner)
    messages.send_in_order(chunk[2:])
    broadcast.refresh_from_db()
    assert broadcast.status == "cancelled" and len(telegram.sent()) == 2
    assert broadcasts.counts_of(broadcast) == {"sent": 2, "failed": 0, "blocked": 0, "cancelled": 4, "waiting": 0}
    with pytest.raises(RuleRefused) as refused:
        broadcasts.cancel_broadcast(broadcast=broadcast, actor=bot_project.owner)
    assert refused.value.code == "broadcast_finished"


@pytest.mark.parametrize("text", ["", "   ", "x" * 4097, "bad\x00text"])
def test_msg1_a_broadcast_text_that_cannot_be_sent_is_refused_and_nothing_stored(bot_project, text):
    with pytest.raises(RuleRefused) as refused:
        broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text=text)
    assert (refused.value.code, refused.value.status) == ("invalid_message", 400)
    assert not Broadcast.objects.exists()


def test_msg1_a_suspended_owner_cannot_broadcast(bot_project, client_account):
    accounts.suspend(client=client_account)
    with pytest.raises(RuleRefused) as refused:
        broadcasts.create_broadcast(project=bot_project, actor=client_account, text="Hi")
    assert refused.value.code == "project_may_not_send" and not Broadcast.objects.exists()


def test_msg1_a_project_without_a_bot_cannot_broadcast(client_account):
    from tests.factories import make_project

    project = make_project(owner=client_account)
    with pytest.raises(RuleRefused) as refused:
        broadcasts.create_broadcast(project=project, actor=client_account, text="Hi")
    assert refused.value.code == "no_bot"


def test_msg1_an_owner_blocked_mid_broadcast_sends_no_more(bot_project, telegram, client_account):
    from projects.sending import messages

    subscribers(bot_project, 4)
    broadcast = broadcasts.create_broadcast(project=bot_project, actor=client_account, text="Hi")
    [chunk] = broadcasts.start_broadcast(broadcast_id=broadcast.pk)
    messages.send_in_order(chunk[:1])
    accounts.block(client=client_account, reason="abuse")
    messages.send_in_order(chunk[1:])
    broadcasts.after_chunk(broadcast.pk)
    broadcast.refresh_from_db()
    assert len(telegram.sent()) == 1 and broadcast.status == "done"
    assert broadcasts.counts_of(broadcast)["failed"] == 3  # skipped: the project may not send


def test_msg1_a_broadcast_whose_own_task_was_lost_is_started_by_the_minute_sweep(bot_project, telegram, monkeypatch,
                                                                                django_capture_on_commit_callbacks):
    from projects.sending import broadcasts as module

    current_app.conf.task_always_eager = False  # as with a broker: an early start waits, put back
    monkeypatch.setattr(module, "enqueue_at", lambda *args, **kwargs: None)  # the broker lost it
    subscribers(bot_project, 2)
    at = timezone.now() + timedelta(minutes=5)
    broadcast = broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="Later", send_at=at)
    assert broadcasts.start_due_broadcasts() == []  # not yet
    current_app.conf.task_always_eager = True
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts.start_due_broadcasts(now=at + timedelta(seconds=30)) == [broadcast.pk]
    broadcast.refresh_from_db()
    assert broadcast.status == "done" and len(telegram.sent()) == 2


def test_msg1_with_the_inline_celery_a_broadcast_at_a_time_starts_at_once_rather_than_loop(bot_project, telegram,
                                                                                          django_capture_on_commit_callbacks):
    subscribers(bot_project, 1)
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = broadcasts.create_broadcast(project=bot_project, actor=bot_project.owner, text="Later",
                                                send_at=timezone.now() + timedelta(hours=1))
    broadcast.refresh_from_db()
    assert broadcast.status == "done" and len(telegram.sent()) == 1


def test_acc3_a_blocked_owner_cannot_cancel_through_the_service_but_staff_can(bot_project, client_account, staff):
    subscribers(bot_project, 1)
    broadcast = broadcasts.create_broadcast(project=bot_project, actor=client_account, text="Hi")
    accounts.block(client=client_account, reason="abuse")
    with pytest.raises(RuleRefused):
        broadcasts.cancel_broadcast(broadcast=broadcast, actor=client_account)
    assert broadcasts.cancel_broadcast(broadcast=broadcast, actor=staff, by_staff=True).status == "cancelled"
