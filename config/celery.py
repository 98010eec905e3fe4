"""The Celery app. Without CELERY_BROKER_URL tasks run inline (eager); with Redis, workers and beat
run as their own processes (`make worker`, `make beat`). The beat schedule is kept here in code:
django-celery-beat does not support Django 6.1."""

import os

from celery import Celery, signals
from celery.schedules import crontab

from core.request_context import bind_log_fields, current_client_id, current_request_id, unbind_log_fields, valid_client_id, valid_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A night chunk says when a worker starts it: the night tells a chunk lost with its worker (started,
# never back) from one still queued (issue 17; billing/night/fanout.py). Its time limits come with
# each chunk's message, from NIGHT_CHUNK_TIME_LIMIT.
app.conf.task_annotations = {"billing.tasks.night_chunk": {"track_started": True}}


@signals.worker_process_init.connect  # a prefork child, once Django is set up
@signals.worker_ready.connect  # the solo and thread pools
def freeze_at_worker_start(**kwargs) -> None:
    from core.process import freeze_startup_objects  # core imports Django's settings, ready only now

    freeze_startup_objects()


# A task's log lines name the request that queued it (issue 17, item 6): its id and client id go
# with the message as headers (the outbox sets them from its row; a task sent directly inside a
# request gets them here), and the worker binds them while the task runs.
REQUEST_HEADERS = ("request_id", "client_id")


@signals.before_task_publish.connect
def add_request_headers(headers=None, **kwargs) -> None:
    if headers is None or any(key in headers for key in REQUEST_HEADERS):
        return  # set by the sender (the outbox, from its row): kept as it is
    request_id, client_id = current_request_id(), current_client_id()
    if request_id:
        headers["request_id"] = request_id
    if client_id is not None:
        headers["client_id"] = client_id


def _header(request, name: str):
    # A worker's task.request has a message's custom headers as attributes and in `headers`; an
    # eager apply(headers=...) in `headers` only.
    return (getattr(request, "headers", None) or {}).get(name, getattr(request, name, None))


@signals.task_prerun.connect
def bind_request_headers(task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    if request is None:
        return
    # Held to the X-Request-ID's pattern: a forged header is dropped, not written into log lines.
    request_id, client_id = valid_request_id(_header(request, "request_id")), valid_client_id(_header(request, "client_id"))
    if request_id or client_id is not None:
        request.log_fields_token = bind_log_fields(request_id=request_id or None, client_id=client_id)


@signals.task_postrun.connect
def unbind_request_headers(task=None, **kwargs) -> None:
    token = getattr(getattr(task, "request", None), "log_fields_token", None)
    if token is not None:
        unbind_log_fields(token)


app.conf.beat_schedule = {
    # The outbox (issue 17, item 5): tasks a committed change needs that the broker did not take
    # at once (Redis was down) are sent again until it does.
    "relay-outbox": {
        "task": "core.tasks.relay_outbox",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Notices whose email did not go (SMTP down, retries spent) are mailed again (NTF-1).
    "send-pending-notices": {
        "task": "accounts.tasks.send_pending_notices",
        "schedule": crontab(minute="*/10"),
    },
    # A new legal version's batches, resumed should a chain have stopped (CMP-1).
    "resume-document-notices": {
        "task": "compliance.tasks.resume_document_notices",
        "schedule": crontab(minute="*/15"),
    },
    # Timed blocks (ACC-3) end on time even between nights.
    "lift-expired-blocks": {
        "task": "accounts.tasks.lift_expired_blocks",
        "schedule": crontab(minute="*/5"),
    },
    # The night (DESIGN.md): 01:00 in the billing zone, UTC+2 without DST, is 23:00 UTC.
    "run-nightly": {
        "task": "billing.tasks.nightly",
        "schedule": crontab(hour=23, minute=0),
    },
    # Broadcasts whose time has come, should their own task have been lost (MSG-1).
    "start-due-broadcasts": {
        "task": "projects.tasks.start_due_broadcasts",
        "schedule": crontab(minute="*"),
    },
    # Charges whose answer never came are settled by their key (CARD-3, PER-7).
    "reconcile-payments": {
        "task": "billing.tasks.reconcile_payments",
        "schedule": crontab(minute="*/10"),
    },
}
