"""Issue 17 (items 5 and 7): a `/start` in a project with a bot is claimed, subscribed and its
funnel task kept in the outbox in one statement on PostgreSQL; nothing of it is lost with the
broker down, and a repeated update adds no second task."""

import pytest
from django.db import connection

from core.models import OutboxMessage
from projects.models import TelegramUpdate
from projects.telegram import FUNNEL_TASK
from tests import faults
from tests.factories import make_client, make_project
from tests.faults import relay, run_queued
from tests.projects.funnel_kit import connect
from tests.projects.test_telegram_webhook import post, subscriber, text_update

own_redis, broker = faults.own_redis, faults.broker  # the fault fixtures, found by name

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def project(db):
    project = make_project(owner=make_client(email="owner@example.com"))
    connect(project)
    return project


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's (SQLite takes the two-statement one, tested elsewhere)")


def test_issue17_a_start_and_its_funnel_task_are_one_write(client, project, broker):
    update = text_update("/start promo", update_id=5001)
    response = post(client, project, update)
    assert response.status_code == 200
    assert subscriber(project).status == "active"
    kept = OutboxMessage.objects.get(task=FUNNEL_TASK)
    assert kept.args == [project.pk, {"kind": "start", "user": "42", "payload": "promo"}]
    assert kept.relayed_at is not None  # handed to the broker after the commit
    assert run_queued() == [FUNNEL_TASK]

    again = post(client, project, update)  # Telegram sends it again
    assert again.status_code == 200
    assert OutboxMessage.objects.filter(task=FUNNEL_TASK).count() == 1
    assert TelegramUpdate.objects.filter(project=project, update_id=5001).count() == 1
    assert run_queued() == []


def test_issue17_a_start_with_the_broker_down_is_kept_and_relayed_later(client, project, broker):
    broker.kill()
    assert post(client, project, text_update("/start", update_id=5002)).status_code == 200
    assert subscriber(project).status == "active"
    kept = OutboxMessage.objects.get(task=FUNNEL_TASK)
    assert kept.relayed_at is None and kept.attempts == 1

    broker.start()
    assert relay() == 1
    assert run_queued() == [FUNNEL_TASK]
    assert OutboxMessage.objects.get(pk=kept.pk).relayed_at is not None
