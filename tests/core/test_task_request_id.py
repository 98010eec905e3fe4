"""Issue 17, item 6: a task's log lines name the request that queued it. The outbox keeps the
request's id and client id on its row and sends them as message headers (from memory after the
commit, from the row in the relay); a task sent directly inside a request gets them from
`before_task_publish`; the worker binds them while the task runs, and drops a forged one."""

import io
import json
import logging
from datetime import timedelta

import pytest
from celery import shared_task
from celery.worker.request import Request
from django.db import transaction
from django.utils import timezone

from config.celery import app
from core import outbox
from core.logging import JsonFormatter, RedactSecrets, RequestContext
from core.models import OutboxMessage
from core.request_context import RequestInfo, current_request_id, log_fields, reset_current_request, set_current_request
from core.tasks import enqueue
from projects.telegram import FUNNEL_TASK
from tests.factories import api_as, make_client, make_project
from tests.faults import _fresh_connections
from tests.projects.funnel_kit import connect
from tests.projects.test_telegram_webhook import text_update

REQUEST_ID = "req-7f3a9c21d4e54b0a"
PURGE = "projects.tasks.purge_project_data"
task_log = logging.getLogger("tests.task_request_id")


@shared_task(name="tests.core.test_task_request_id.say_working", ignore_result=True)  # no result backend needed
def say_working() -> None:
    task_log.info("working")


@shared_task(name="tests.core.test_task_request_id.queue_another", ignore_result=True)
def queue_another() -> None:
    enqueue(say_working)


@pytest.fixture
def lines():
    """What the console handler of settings.LOGGING prints (its filters, the JSON formatter),
    parsed: only the lines of the test's task logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContext())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter())
    task_log.addHandler(handler)
    task_log.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        task_log.removeHandler(handler)
        task_log.setLevel(logging.NOTSET)


def _drain() -> list:
    """The messages waiting on the in-memory broker's default queue, taken off it."""
    taken = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.amqp.queues[app.conf.task_default_queue])
        try:
            while True:
                try:
                    message = queue.get(timeout=0.05)
                except queue.Empty:
                    break
                message.ack()
                taken.append(message)
        finally:
            queue.close()
    return taken


@pytest.fixture
def broker(monkeypatch):
    """Celery on the in-memory broker (this process's own: no other test's queue), not inline:
    `enqueue` goes through the outbox. Yields a function returning the messages published so far."""
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")  # Celery reads it before its configuration (CI sets it)
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = "memory://", False
    _fresh_connections()
    outbox._broker_down_until = 0.0
    _drain()
    try:
        yield _drain
    finally:
        _drain()
        app.conf.broker_url, app.conf.task_always_eager = saved
        _fresh_connections()
        outbox._broker_down_until = 0.0


def run_as_worker(message) -> None:
    """The message run as a worker's pool runs it: its Request, built from the message itself."""
    task = app.tasks[message.headers["task"]]
    Request(message, app=app, task=task, hostname="test-worker").execute()


@pytest.fixture
def in_request():
    """Code run as inside a request with this id (what the request middleware sets)."""
    tokens = []

    def enter(request_id: str = REQUEST_ID, http_request=None):
        tokens.append(set_current_request(RequestInfo(ip="203.0.113.5", user_agent="test", request_id=request_id, http_request=http_request)))

    yield enter
    for token in reversed(tokens):
        reset_current_request(token)


@pytest.mark.django_db
def test_issue17_a_webhook_request_keeps_its_request_id_on_the_outbox_row_and_sends_it_as_a_header(client, broker, django_capture_on_commit_callbacks):
    project = make_project(owner=make_client(email="owner@example.com"))
    connect(project)  # a bot: the /start goes to the funnel, in a task
    with django_capture_on_commit_callbacks(execute=True):  # run after the request: the header comes from memory, not the context
        response = client.post(project.telegram_webhook_path, data=text_update("/start").to_json(), content_type="application/json",
                               HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=project.telegram_secret, HTTP_X_REQUEST_ID=REQUEST_ID)

    assert response.status_code == 200 and response["X-Request-ID"] == REQUEST_ID
    kept = OutboxMessage.objects.get(task=FUNNEL_TASK)
    assert (kept.request_id, kept.client_id) == (REQUEST_ID, None)  # Telegram's call acts as no client
    assert kept.relayed_at is not None
    [message] = broker()
    assert message.headers["task"] == FUNNEL_TASK and message.headers["id"] == kept.celery_id
    assert message.headers["request_id"] == REQUEST_ID
    assert "client_id" not in message.headers


@pytest.mark.django_db
def test_issue17_an_api_request_keeps_its_request_id_and_client_id_and_its_task_logs_them(broker, django_capture_on_commit_callbacks, lines):
    owner = make_client(email="owner@example.com")
    project = make_project(owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(owner).delete(f"/api/v1/projects/{project.pk}/", HTTP_X_REQUEST_ID=REQUEST_ID)

    assert response.status_code == 204
    kept = OutboxMessage.objects.get(task=PURGE)
    assert (kept.request_id, kept.client_id) == (REQUEST_ID, owner.pk)
    [message] = broker()
    assert (message.headers["request_id"], message.headers["client_id"]) == (REQUEST_ID, owner.pk)


@pytest.mark.django_db
def test_issue17_the_relay_sends_the_rows_request_id_and_the_worker_logs_it(broker, in_request, lines):
    in_request()
    with transaction.atomic():  # the test's savepoint: its commit callback never runs, the relay sends it
        kept = outbox.write(say_working, [], {})
    reset_current_request_everywhere = set_current_request(None)  # the relay runs in beat's worker, in no request
    try:
        OutboxMessage.objects.filter(pk=kept.pk).update(created_at=timezone.now() - timedelta(minutes=1))
        assert outbox.relay_pending() == 1
        [message] = broker()
        assert message.headers["request_id"] == REQUEST_ID

        run_as_worker(message)
    finally:
        reset_current_request(reset_current_request_everywhere)

    [line] = [line for line in lines() if line["message"] == "working"]
    assert line["request_id"] == REQUEST_ID and line["client_id"] is None
    assert log_fields() == {}  # unbound once the task ended: the worker's next task starts clean


@pytest.mark.django_db
def test_issue17_a_task_from_the_outbox_logs_the_client_id_it_was_queued_for(broker, lines):
    owner = make_client(email="owner@example.com")
    OutboxMessage.objects.create(task=say_working.name, request_id=REQUEST_ID, client_id=owner.pk, created_at=timezone.now() - timedelta(minutes=1))
    assert outbox.relay_pending() == 1
    [message] = broker()

    run_as_worker(message)

    [line] = lines()
    assert (line["request_id"], line["client_id"]) == (REQUEST_ID, owner.pk)


@pytest.mark.django_db
def test_issue17_a_task_sent_directly_inside_a_request_gets_the_header(broker, in_request, lines):
    in_request("direct-0123456789")
    say_working.delay()
    [message] = broker()
    assert message.headers["request_id"] == "direct-0123456789"


def test_issue17_a_task_sent_outside_any_request_has_no_request_header(broker):
    say_working.delay()
    [message] = broker()
    assert "request_id" not in message.headers and "client_id" not in message.headers


def test_issue17_a_header_set_by_the_sender_is_not_replaced_by_the_request_context(broker, in_request):
    in_request("context-0123456789")
    say_working.apply_async(headers={"request_id": "sender-0123456789"})
    [message] = broker()
    assert message.headers["request_id"] == "sender-0123456789"


@pytest.mark.parametrize("forged", [
    "has spaces in it",
    "x" * 500,
    'abc12345\n{"level": "ERROR", "message": "forged"}',
    "short",
    12345678901,
    "",
])
def test_issue17_a_forged_request_id_header_is_dropped_from_the_tasks_lines(broker, lines, forged):
    say_working.apply_async(headers={"request_id": forged, "client_id": "7; DROP TABLE"})
    [message] = broker()

    run_as_worker(message)

    [line] = lines()
    assert line["message"] == "working"
    assert line["request_id"] is None and line["client_id"] is None
    assert log_fields() == {}


@pytest.mark.parametrize("forged", [-1, 0, 2**63, True, "42", 4.2])
def test_issue17_a_forged_client_id_header_is_dropped(broker, lines, forged):
    say_working.apply_async(headers={"request_id": REQUEST_ID, "client_id": forged})
    [message] = broker()

    run_as_worker(message)

    [line] = lines()
    assert line["request_id"] == REQUEST_ID and line["client_id"] is None


@pytest.mark.django_db
def test_issue17_a_task_queued_by_a_task_carries_the_first_requests_id(broker, lines):
    OutboxMessage.objects.create(task=queue_another.name, request_id=REQUEST_ID, created_at=timezone.now() - timedelta(minutes=1))
    assert outbox.relay_pending() == 1
    [first] = broker()

    run_as_worker(first)  # it enqueues say_working through the outbox, in the worker

    second = OutboxMessage.objects.get(task=say_working.name)
    assert second.request_id == REQUEST_ID
    assert current_request_id() == ""  # the worker forgot it once the task ended


@pytest.mark.django_db
def test_issue17_the_eager_path_keeps_the_request_id(in_request, lines, django_capture_on_commit_callbacks):
    assert app.conf.task_always_eager  # the suite's inline Celery, as `make run`
    in_request()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue(say_working)  # runs inline once the change commits, still inside the request

    assert not OutboxMessage.objects.exists()
    [line] = lines()
    assert line["message"] == "working" and line["request_id"] == REQUEST_ID


def test_issue17_an_eager_task_with_a_header_logs_it_and_forgets_it(lines):
    say_working.apply(headers={"request_id": REQUEST_ID})
    say_working.apply()

    first, second = lines()
    assert first["request_id"] == REQUEST_ID
    assert second["request_id"] is None
