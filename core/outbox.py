"""The transactional outbox (issue 17, item 5): work a committed change needs is never lost.

`core.tasks.enqueue` writes an `OutboxMessage` in the change's own transaction, so the change and
its task commit (or roll back) together. After the commit the row is handed to Celery at once,
with a short broker timeout: a dead broker costs a request well under a second, and for
BROKER_PAUSE_SECONDS after a failure this process does not try again (the relay will). The relay
(`core.tasks.relay_outbox` on beat, or `manage.py relay_outbox`) sends every row not yet handed
over. A row is marked relayed only once `apply_async` succeeded, so a crash between the two sends
it twice: every task sent this way is idempotent, and one that must not act twice (an email) marks
its row done (`once`).

A row keeps the id of the request that queued it and the client it acted as (issue 17, item 6):
they go with the task as message headers (`task_headers`), for its worker's log lines."""

import json
import logging
import time
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module

from celery import current_app
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from kombu.utils.json import JSONEncoder

from core.models import OutboxMessage
from core.request_context import current_client_id, current_request_id

log = logging.getLogger(__name__)

BROKER_PAUSE_SECONDS = 5.0
RELAY_GRACE = timedelta(seconds=10)  # a row never tried may still be in its request's `relay_now`
RELAY_BATCH = 500
KEEP_RELAYED_DAYS = 7
# One attempt per publish: the outbox is the retry, not a request waiting on the broker.
PUBLISH_RETRY_POLICY = {"max_retries": 0}
# What a broker that is down or unreachable raises through kombu and redis-py.
BROKER_DOWN = (BrokerError, ConnectionError, TimeoutError, OSError)

RELAYED, TAKEN, FAILED, BROKER_UNREACHABLE = "relayed", "taken", "failed", "broker_unreachable"

_broker_down_until = 0.0


def task_named(task):
    """The Celery task for a task or its registered name; its module registers it, as a worker's
    autodiscovery would."""
    if isinstance(task, str):
        if task not in current_app.tasks:
            import_module(task.rpartition(".")[0])
        return current_app.tasks[task]
    return task


def task_headers(request_id: str, client_id: int | None) -> dict:
    """The message headers a task is sent with: the request that queued it, the client it acted
    as (read back by the worker's `task_prerun`, config.celery). Empty ones are left out."""
    headers = {}
    if request_id:
        headers["request_id"] = request_id
    if client_id is not None:
        headers["client_id"] = client_id
    return headers


def write(task, args, kwargs, eta=None) -> OutboxMessage:
    """Keep the task in the current transaction; hand it to Celery once that commits."""
    name = task if isinstance(task, str) else task.name
    args, kwargs = list(args), dict(kwargs)
    headers = task_headers(current_request_id(), current_client_id())
    message = OutboxMessage.objects.create(task=name, args=args, kwargs=kwargs, eta=eta,
                                           request_id=headers.get("request_id", ""), client_id=headers.get("client_id"))
    # Published from memory after the commit, marked with one UPDATE: no second read, no lock in
    # the request (bench: the relay was most of the webhook's time). A failure is logged: the
    # relay sends it later.
    transaction.on_commit(lambda: relay_now(message.pk, name, args, kwargs, eta, headers), robust=True)
    return message


def _eager() -> bool:
    """Tasks run inline (tests, `make run`): as before the outbox, they run once the change commits."""
    return bool(current_app.conf.task_always_eager)


def enqueue_at(task, *args, eta=None) -> None:
    """`enqueue`, to run at `eta` (None: at once). With the inline Celery it runs at once: a
    development server has no clock to wait on."""
    if _eager():
        transaction.on_commit(lambda: task_named(task).apply_async(args=args, eta=eta))
        return
    write(task, args, {}, eta)


def enqueue(task, *args, **kwargs) -> None:
    """Send a Celery task once the current transaction commits, so that a worker never looks for
    rows that are not there yet, nor acts on a change that was rolled back (DESIGN.md). `task` is
    the task or its registered name: a service names the task so that it need not import the
    tasks module that imports it (imports run one way).

    With a broker, the task is written to the outbox in the same transaction and relayed from
    there (issue 17, item 5): a broker that is down loses nothing and holds up no request."""
    if _eager():
        transaction.on_commit(lambda: task_named(task).delay(*args, **kwargs))
        return
    write(task, args, kwargs)


def kept() -> bool:
    """Whether `enqueue` writes to the outbox now (a broker is set), not inline after the commit."""
    return not _eager()


def insert_from(source: str) -> str:
    """For a hot path written in SQL (the Telegram webhook): an INSERT of one outbox row per row of
    `source` (a CTE's name), so the change and its task are one statement. Its parameters are
    `outbox_task`, `outbox_args` (`arguments_json`), `now` and those of `context_params()`; it
    returns the rows' ids, which go to `relay_after_commit`. PostgreSQL only (jsonb)."""
    table = OutboxMessage._meta.db_table
    return (f"INSERT INTO {table} (task, args, kwargs, eta, created_at, relayed_at, attempts, last_error, done_at, request_id, client_id) "  # noqa: S608 (names from the model)
            f"SELECT %(outbox_task)s, %(outbox_args)s::jsonb, '{{}}'::jsonb, NULL, %(now)s, NULL, 0, '', NULL, "
            f"%(outbox_request_id)s, %(outbox_client_id)s FROM {source} RETURNING id")


def context_params() -> dict:
    """`insert_from`'s parameters for the request being served: its id and client id."""
    return {"outbox_request_id": current_request_id(), "outbox_client_id": current_client_id()}


def arguments_json(args: list) -> str:
    """A task's arguments as the outbox keeps them (Celery's JSON)."""
    return json.dumps(list(args), cls=JSONEncoder)


def relay_after_commit(message_id: int, task: str, args: list) -> None:
    """What `write` does after its INSERT, for a row `insert_from` wrote (in this request: the
    same `context_params`)."""
    headers = task_headers(current_request_id(), current_client_id())
    transaction.on_commit(lambda: relay_now(message_id, task, list(args), {}, None, headers), robust=True)


def broker_paused() -> bool:
    return time.monotonic() < _broker_down_until


def relay_now(message_id: int, task: str, args: list, kwargs: dict, eta=None, headers: dict | None = None) -> str:
    """The first attempt, right after the commit, unless the broker was just found down. The
    relay leaves a row alone while this may still be at work on it (never tried, younger than
    RELAY_GRACE), so the two do not both send it."""
    if broker_paused():
        _note_failure(message_id, "broker down a moment ago: left for the relay")
        return BROKER_UNREACHABLE
    try:
        _publish(message_id, task, args, kwargs, eta, headers)
    except Exception as exc:  # noqa: BLE001 (whatever it was, the row is kept and tried again by the relay)
        return _failed(message_id, task, exc)
    OutboxMessage.objects.filter(pk=message_id, relayed_at__isnull=True).update(relayed_at=timezone.now(), attempts=F("attempts") + 1, last_error="")
    return RELAYED


def relay_pending(*, limit: int = RELAY_BATCH) -> int:
    """Hand every row not yet relayed to Celery, oldest first; stops at the first sign that the
    broker is down (the next run goes on). Returns how many were relayed."""
    global _broker_down_until
    _broker_down_until = 0.0  # the relay always tries: it is how the broker's return is noticed
    young = timezone.now() - RELAY_GRACE
    pending = list(OutboxMessage.objects.filter(Q(attempts__gt=0) | Q(created_at__lte=young), relayed_at__isnull=True)
                   .order_by("pk").values_list("pk", flat=True)[:limit])
    relayed = 0
    for message_id in pending:
        outcome = _relay_one(message_id)
        if outcome == BROKER_UNREACHABLE:
            break
        relayed += outcome == RELAYED
    return relayed


REARM_AFTER = timedelta(hours=6)  # longer than a task's own retries take (core.tasks.EMAIL_RETRY)
REARM_WITHIN = timedelta(days=3)


def rearm_undone(*, tasks: list[str], now=None) -> int:
    """Rows of these tasks (ones that mark themselves done, `once`) relayed long ago and still not
    done, sent again: their retries were spent, or lost with a broker that was down when one was
    due. Given up after REARM_WITHIN."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(
        task__in=tasks, done_at__isnull=True, relayed_at__lt=now - REARM_AFTER, created_at__gte=now - REARM_WITHIN,
    ).update(relayed_at=None)


def prune(*, now=None) -> int:
    """Relayed rows are kept a week (to see what was sent), then deleted."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(relayed_at__lt=now - timedelta(days=KEEP_RELAYED_DAYS)).delete()[0]


def pending_count() -> int:
    return OutboxMessage.objects.filter(relayed_at__isnull=True).count()


def _publish(message_id: int, task: str, args: list, kwargs: dict, eta, headers: dict | None = None) -> None:
    task_named(task).apply_async(
        args=args, kwargs=kwargs, eta=eta, task_id=f"outbox-{message_id}", headers=headers or {},
        # No result is waited on, and a result backend on a dead Redis would hang the call.
        ignore_result=True, retry=True, retry_policy=PUBLISH_RETRY_POLICY,
    )


def _failed(message_id: int, task: str, exc: Exception) -> str:
    global _broker_down_until
    down = isinstance(exc, BROKER_DOWN)
    if down:
        _broker_down_until = time.monotonic() + BROKER_PAUSE_SECONDS
    log.warning("outbox message %s (%s) not relayed: %r", message_id, task, exc)
    _note_failure(message_id, repr(exc))
    return BROKER_UNREACHABLE if down else FAILED


def _note_failure(message_id: int, error: str) -> None:
    OutboxMessage.objects.filter(pk=message_id).update(attempts=F("attempts") + 1, last_error=error[:300])


def _relay_one(message_id: int) -> str:
    with transaction.atomic():
        # Locked while it is published, so that two relays never both send it.
        message = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id, relayed_at__isnull=True).first()
        if message is None:
            return TAKEN
        try:
            _publish(message.pk, message.task, message.args, message.kwargs, message.eta, task_headers(message.request_id, message.client_id))
        except Exception as exc:  # noqa: BLE001 (whatever it was, the row is kept and tried again by the relay)
            return _failed(message.pk, message.task, exc)
        message.relayed_at, message.last_error, message.attempts = timezone.now(), "", message.attempts + 1
        message.save(update_fields=["attempts", "relayed_at", "last_error"])
    return RELAYED


@contextmanager
def once(request):
    """For a task that must not act twice when relayed twice (an email): yields False when the
    outbox row it was sent for (by its Celery id) is done already; marks it done when the block
    ends without error. A task not sent through the outbox (eager, tests) always acts."""
    task_id = getattr(request, "id", None) or ""
    if not task_id.startswith("outbox-") or not task_id.removeprefix("outbox-").isdigit():
        yield True
        return
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=int(task_id.removeprefix("outbox-"))).first()
        if message is not None and message.done_at is not None:
            yield False
            return
        yield True
        if message is not None:
            message.done_at = timezone.now()
            message.save(update_fields=["done_at"])
