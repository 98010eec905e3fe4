"""Issue 17, item 5: work a committed change needs is never lost. Against a Redis of the test's
own (tests/faults.py), killed and started again: the outbox keeps the task while Redis is down, the
request still answers at once, and the relay hands it over once Redis is back."""

import time

import pytest
from django.core import mail
from django.db import transaction

from core import outbox
from core.emails import send_mail_later
from core.models import OutboxMessage
from core.tasks import enqueue
from projects.models import Subscriber
from tests import faults, mailers
from tests.factories import api_as, make_client, make_project, make_subscriber
from tests.faults import relay, run_queued

own_redis, broker, flaky_mail = faults.own_redis, faults.broker, mailers.flaky_mail  # the fault fixtures, found by name

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PURGE = "projects.tasks.purge_project_data"


def test_issue17_project_deleted_with_redis_down_answers_at_once_and_is_purged_once_redis_is_back(broker):
    owner = make_client(email="owner@example.com")
    project = make_project(owner=owner)
    for n in range(3):
        make_subscriber(project=project, email=f"s{n}@example.com")
    api = api_as(owner)
    assert api.get("/api/v1/projects/").status_code == 200  # the first request warms the process up, Redis or not
    broker.kill()

    started = time.monotonic()
    response = api.delete(f"/api/v1/projects/{project.pk}/")
    elapsed = time.monotonic() - started

    assert response.status_code == 204
    assert elapsed < 2, f"the request waited {elapsed:.1f} s on a dead broker"
    kept = OutboxMessage.objects.get(task=PURGE)
    assert kept.args == [project.pk] and kept.relayed_at is None and kept.attempts == 1 and "Connection refused" in kept.last_error
    assert Subscriber.objects.filter(project=project).count() == 3  # nothing purged yet, nothing lost either
    assert relay() == 0  # the relay while Redis is still down keeps it too
    assert OutboxMessage.objects.get(pk=kept.pk).relayed_at is None

    broker.start()
    assert relay() == 1
    assert run_queued() == [PURGE]
    assert Subscriber.objects.filter(project=project).count() == 0
    assert OutboxMessage.objects.get(pk=kept.pk).relayed_at is not None
    assert relay() == 0 and run_queued() == []  # relayed once: nothing sent again


def test_issue17_a_request_after_the_first_failure_does_not_try_the_dead_broker_again(broker):
    broker.kill()
    started = time.monotonic()
    for _ in range(20):
        enqueue("accounts.tasks.lift_expired_blocks")  # each in its own transaction (autocommit)
    assert time.monotonic() - started < 2
    assert OutboxMessage.objects.filter(relayed_at__isnull=True).count() == 20
    assert OutboxMessage.objects.filter(attempts=1).count() == 20
    assert OutboxMessage.objects.filter(last_error__startswith="broker down a moment ago").count() == 19  # not tried: left for the relay

    broker.start()
    assert relay() == 20 and outbox.pending_count() == 0
    assert run_queued() == ["accounts.tasks.lift_expired_blocks"] * 20


def test_issue17_a_rolled_back_change_leaves_no_task(broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(PURGE, 1)
        raise RuntimeError("the change fails")
    assert not OutboxMessage.objects.exists()
    assert run_queued() == []


def test_issue17_an_email_relayed_twice_goes_once(broker, flaky_mail):
    send_mail_later("Hello", "Body", ["ada@example.com"])
    assert run_queued() == ["core.tasks.send_email"]
    message = OutboxMessage.objects.get()
    assert message.relayed_at is not None and message.done_at is not None
    OutboxMessage.objects.filter(pk=message.pk).update(relayed_at=None)  # as if the relay died before marking it

    assert relay() == 1 and run_queued() == ["core.tasks.send_email"]
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_issue17_an_email_that_fails_is_retried_never_dropped(broker, flaky_mail):
    flaky_mail.down = True
    send_mail_later("Hello", "Body", ["ada@example.com"])
    assert run_queued(rounds=1) == ["core.tasks.send_email"]  # refused: the task is queued again, with its backoff
    assert flaky_mail.refused == 1 and mail.outbox == []
    assert OutboxMessage.objects.get().done_at is None

    flaky_mail.down = False
    assert run_queued() == ["core.tasks.send_email"]  # the retry
    assert [m.subject for m in mail.outbox] == ["Hello"]
    assert OutboxMessage.objects.get().done_at is not None


def test_issue17_an_email_whose_retries_were_lost_is_sent_again_by_the_relay(broker, flaky_mail):
    from datetime import timedelta

    from django.utils import timezone

    send_mail_later("Hello", "Body", ["ada@example.com"])
    flaky_mail.down = True
    run_queued(rounds=1)
    broker.kill()  # its retry, queued on the broker, is lost with it
    broker.start()
    OutboxMessage.objects.update(relayed_at=timezone.now() - outbox.REARM_AFTER - timedelta(minutes=1))
    flaky_mail.down = False

    assert relay() == 1 and run_queued() == ["core.tasks.send_email"]
    assert [m.subject for m in mail.outbox] == ["Hello"]


def test_issue17_inline_celery_keeps_todays_behaviour(settings, django_capture_on_commit_callbacks, mailbox):
    """Tests and `make run` (no broker): no outbox row; the task runs once the change commits."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        send_mail_later("Inline", "Body", ["ada@example.com"])
        assert mailbox == []
    assert [m.subject for m in mailbox] == ["Inline"]
    assert not OutboxMessage.objects.exists()
