"""On PostgreSQL, at the same moment: the Free limit (TAR-2) and one update_id (PRJ-3) hold."""

import json
import threading

import pytest
from django.db import connection, connections

from core.exceptions import RuleRefused
from projects import selectors, services, telegram
from projects.models import Project, Subscriber, TelegramUpdate
from tests.conftest import require_service
from tests.factories import make_client, make_project

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def all_at_once(count: int, work) -> list:
    """Run `work()` in `count` threads released together; each result or exception, in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # noqa: BLE001 (the caller inspects each outcome)
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def postgresql():
    require_service("PostgreSQL", connection.vendor == "postgresql")


def test_tar2_four_creates_at_once_for_the_last_free_slot_make_one_project(postgresql):
    owner = make_client(email="racer@example.com")
    make_project(owner=owner, name="First")
    results = all_at_once(4, lambda: services.create_project(owner=owner, name="Second"))
    made = [r for r in results if isinstance(r, Project)]
    refused = [r for r in results if isinstance(r, RuleRefused)]
    assert len(made) == 1 and len(refused) == 3, results
    assert {r.code for r in refused} == {"free_project_limit"}
    assert Project.objects.filter(owner=owner).count() == 2


def test_prj3_one_update_delivered_four_times_at_once_counts_once(postgresql):
    project = make_project(owner=make_client(email="bot-owner@example.com"))
    update = json.loads(json.dumps({
        "update_id": 424242,
        "message": {"message_id": 1, "date": 1796083200, "text": "/start", "chat": {"id": 77, "type": "private"},
                    "from": {"id": 77, "is_bot": False, "first_name": "Race"}},
    }))

    def deliver():
        target = selectors.project_for_webhook(token=project.telegram_webhook_token)
        return telegram.handle_telegram_update(project=target, update=update)

    results = all_at_once(4, deliver)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TelegramUpdate.objects.filter(project=project).count() == 1
    assert Subscriber.objects.filter(project=project, messenger_user_id="77", status="active").count() == 1


def test_prj3_different_updates_from_one_person_at_once_make_one_subscriber(postgresql):
    project = make_project(owner=make_client(email="bot-owner2@example.com"))

    def deliver(update_id):
        update = {"update_id": update_id, "message": {"message_id": update_id, "date": 1796083200, "text": "/start",
                                                     "chat": {"id": 78, "type": "private"}, "from": {"id": 78, "is_bot": False, "first_name": "Twin"}}}
        target = selectors.project_for_webhook(token=project.telegram_webhook_token)
        return telegram.handle_telegram_update(project=target, update=update)

    counter = iter(range(1000, 1004))
    lock = threading.Lock()

    def next_delivery():
        with lock:
            update_id = next(counter)
        return deliver(update_id)

    results = all_at_once(4, next_delivery)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TelegramUpdate.objects.filter(project=project).count() == 4
    assert Subscriber.objects.filter(project=project, messenger_user_id="78").count() == 1
