"""A real Celery worker on Redis runs a task end to end (issue 3, item 4).

Needs CELERY_BROKER_URL (Redis) and a database a second process can reach (PostgreSQL through
DATABASE_URL): .ci/run sets both. Elsewhere the test is skipped; in CI it fails instead."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts import services
from accounts.models import Client, Restriction
from accounts.tasks import lift_expired_blocks
from config.celery import app
from core.tasks import enqueue
from tests.conftest import require_service
from tests.factories import make_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(tmp_path):
    require_service("Redis broker (CELERY_BROKER_URL)", os.environ.get("CELERY_BROKER_URL", "").startswith("redis"))
    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    database_url = f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": database_url, "CELERY_TASK_ALWAYS_EAGER": "false"},
    )
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield tmp_path / "worker.log"
    finally:
        app.conf.task_always_eager = True
        app.conf.task_default_queue = "celery"
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_celery_worker_on_redis_runs_a_task_enqueued_on_commit(worker):
    client = make_client(email="timed@example.com")
    services.block(client=client, reason="funnel_loop", until=timezone.now() + timedelta(hours=1))
    # The block's end passes (a direct write: the worker runs on the real clock, not a test's).
    Restriction.objects.filter(client=client).update(ends_at=timezone.now() - timedelta(seconds=1))

    with transaction.atomic():
        enqueue(lift_expired_blocks)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client.refresh_from_db()
        if client.status == Client.Status.ACTIVE:
            break
        time.sleep(0.25)
    assert client.status == Client.Status.ACTIVE, worker.read_text()[-3000:]
    assert client.state_changes.filter(to_status="active", actor=None).exists()
