"""The night in real processes on PostgreSQL: two `run_nightly` at once, and a whole night run by
a real Celery worker on Redis (CI has both; elsewhere these are skipped, in CI they fail)."""

import datetime
import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from billing.models import Invoice, NightlyRun, NightlyStep, Subscription
from core.clock import night_of
from tests.billing.conftest import balance
from tests.billing.nights import due_clients
from tests.conftest import require_service
from tests.core.test_celery_round_trip import ROOT, worker  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
NIGHT = datetime.date(2027, 6, 2)


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_per7_two_run_nightly_processes_for_the_same_night_charge_each_renewal_once():
    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    clients = due_clients(5)
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "manage.py", "run_nightly", "--inline", "--at", night_of(NIGHT).isoformat()]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    for client in clients:
        assert Invoice.objects.filter(client=client, reference__startswith="renewal:").count() == 1
        assert balance(client) == 100 + 5000 - 1000 - 1000
        assert Subscription.objects.get(client=client).period_index == 2
    runs = NightlyRun.objects.filter(night=NIGHT)
    assert runs.count() == 2 and set(runs.values_list("status", flat=True)) == {"done"}
    renewed = sorted(NightlyStep.objects.filter(run__night=NIGHT, name="renewals").values_list("clients", flat=True))
    assert renewed == [0, 5]  # the second waited for the lock, then found everything done


def test_a_real_celery_worker_on_redis_runs_a_whole_night(worker):  # noqa: F811
    from billing.tasks import nightly

    clients = due_clients(3)
    nightly.delay(at=night_of(NIGHT).isoformat())
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if NightlyRun.objects.filter(night=NIGHT, status="done").exists():
            break
        time.sleep(0.25)
    assert NightlyRun.objects.filter(night=NIGHT, status="done").exists(), worker.read_text()[-3000:]
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2, 2, 2]
    assert all(Invoice.objects.filter(client=c, reference__startswith="renewal:").count() == 1 for c in clients)


def test_run_nightly_fans_its_chunks_out_to_the_workers(worker, monkeypatch):  # noqa: F811
    from billing.night import run as night_module

    clients = due_clients(3)
    monkeypatch.setattr(night_module, "CHUNK", 1)  # three chunks, each a task on the worker
    run = night_module.run_nightly(at=night_of(NIGHT))
    assert run.status == "done" and run.steps.get(name="renewals").clients == 3, worker.read_text()[-3000:]
    assert "billing.tasks.night_chunk" in worker.read_text()
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2, 2, 2]


def test_the_nights_chunks_go_to_their_own_queue_when_one_is_set(worker, monkeypatch, settings):  # noqa: F811
    """NIGHT_QUEUE: the chunks go to the night's workers, not behind the mail on the default queue
    (here a queue no worker reads: a chunk sent there would never come back)."""
    from celery import current_app

    from billing.night import run as night_module

    settings.NIGHT_QUEUE = current_app.conf.task_default_queue  # the one the test's worker reads
    monkeypatch.setattr(night_module, "CHUNK", 1)
    settings.NIGHT_CHUNK_LOST_AFTER = 30  # a lost chunk is run by the night itself after 30 s, not an hour
    clients = due_clients(2)
    current_app.conf.task_default_queue = "nobody-reads-this"
    try:
        run = night_module.run_nightly(at=night_of(NIGHT))
    finally:
        current_app.conf.task_default_queue = settings.NIGHT_QUEUE
    assert run.status == "done" and run.steps.get(name="renewals").clients == 2, worker.read_text()[-3000:]
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2, 2]
