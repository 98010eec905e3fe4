"""Issue 17, item 5: the night under faults. A chunk that does not come back from its worker
(killed mid-chunk, failed, the broker down) is run by the night itself within the bound, and each
client is charged once; a broker failure inside a step stops neither the step's other chunks nor
retention and the audit seal; a killed night's record is closed as `interrupted`, with its true
counts, by the next run, which does the rest.

The first tests run anywhere (SQLite or PostgreSQL); the process tests need PostgreSQL (the shared
test database: CI has it) and start their own Redis on port 56380 and their own workers."""

import datetime
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from billing.models import Invoice, NightlyRun, Subscription
from billing.night import run as night_run
from core.clock import night_of
from tests.billing.conftest import balance
from tests.billing.nights import FUNDED, due_clients
from tests.conftest import require_service
from tests.own_services import OwnRedis, available

NIGHT = datetime.date(2027, 6, 2)
REDIS_PORT = 56380
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEE = 1000  # a monthly package's renewal


def assert_each_renewed_once(clients) -> None:
    assert [Invoice.objects.filter(client=c, reference__startswith="renewal:").count() for c in clients] == [1] * len(clients)
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2] * len(clients)
    assert [balance(c) for c in clients] == [100 + FUNDED - FEE - FEE] * len(clients)  # the verification's $1, the activation, one renewal


# --- anywhere -----------------------------------------------------------------------------------------


def test_issue17_a_chunk_that_raises_is_recorded_with_its_clients_and_the_night_goes_on(db, monkeypatch):
    """The broker unreachable inside one chunk (say, a task sent on commit): that chunk's clients
    are on the step's failures, the other chunks are done, retention and the audit seal still run,
    and the next run does the chunk."""
    clients = due_clients(3)
    monkeypatch.setattr(night_run, "CHUNK", 1)
    original = night_run.process

    def broker_down_for_the_second(step, ids, night):
        if step == "renewals" and ids == [clients[1].pk]:
            raise BrokerDown("[Errno 111] Connection refused")
        return original(step, ids, night)

    monkeypatch.setattr(night_run, "process", broker_down_for_the_second)
    sealed, retained = [], []
    monkeypatch.setattr(night_run, "seal_audit_log", lambda through: sealed.append(through))
    monkeypatch.setattr(night_run, "run_retention", lambda now: retained.append(now))
    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_run.run_nightly(at=night_of(NIGHT))
    step = run.steps.get(name="renewals")
    assert run.status == "done" and step.clients == 2
    assert [(f["client"], f["clients"]) for f in step.failures] == [(None, [clients[1].pk])] and "OperationalError" in step.failures[0]["error"]
    assert sealed and retained, "retention and the audit seal ran after the failed chunk"
    assert Invoice.objects.filter(client=clients[1], reference__startswith="renewal:").count() == 0
    monkeypatch.setattr(night_run, "process", original)
    with time_machine.travel(night_of(NIGHT) + datetime.timedelta(minutes=5), tick=False):
        night_run.run_nightly(at=night_of(NIGHT))
    assert_each_renewed_once(clients)


def test_issue17_a_closing_phase_that_fails_does_not_keep_the_others_from_running(db, monkeypatch):
    sealed = []

    def retention_down(now):
        raise BrokerDown("the purges' queue is unreachable")

    monkeypatch.setattr(night_run, "run_retention", retention_down)
    monkeypatch.setattr(night_run, "seal_audit_log", lambda through: sealed.append(through))
    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_run.run_nightly(at=night_of(NIGHT))
    assert len(sealed) == 1  # the audit seal ran after retention failed
    assert run.status == "failed" and "retention: OperationalError" in run.error and run.finished_at is not None


def test_issue17_with_the_broker_down_the_night_runs_its_chunks_itself(db, monkeypatch):
    """Fanning out, the broker unreachable: every chunk is run by the night, noted on its step."""
    clients = due_clients(2)
    monkeypatch.setattr(night_run, "CHUNK", 1)
    monkeypatch.setattr(night_run, "_fan_out", lambda inline: True)

    def unreachable(self, *args, **kwargs):
        raise BrokerDown("[Errno 111] Connection refused")

    monkeypatch.setattr("celery.canvas.group.apply_async", unreachable)
    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_run.run_nightly(at=night_of(NIGHT))
    step = run.steps.get(name="renewals")
    assert run.status == "done" and step.clients == 2
    assert [f["clients"] for f in step.failures] == [[clients[0].pk], [clients[1].pk]]
    assert all("broker unreachable" in f["error"] and "run by the night itself" in f["error"] for f in step.failures)
    assert_each_renewed_once(clients)


def test_issue17_a_killed_nights_record_is_closed_as_interrupted_with_its_true_counts(db, monkeypatch):
    """A run that died (left `running`, its counts not saved) is closed by the next run: its
    renewals recounted from the marks and ledger entries it wrote; the next run does the rest."""
    clients = due_clients(3)
    first_at = datetime.datetime(2027, 6, 1, 23, 0, 1, tzinfo=datetime.UTC)
    monkeypatch.setattr(night_run, "CHUNK", 1)
    original = night_run.process

    def killed_at_the_third(step, ids, night):
        if step == "renewals" and ids == [clients[2].pk]:
            raise KeyboardInterrupt  # where the process dies
        return original(step, ids, night)

    monkeypatch.setattr(night_run, "process", killed_at_the_third)
    with time_machine.travel(first_at, tick=False), pytest.raises(KeyboardInterrupt):
        night_run.run_nightly(at=night_of(NIGHT))
    monkeypatch.setattr(night_run, "process", original)
    killed = NightlyRun.objects.get()
    # The record as SIGKILL leaves it (no `finally`): running, the step it died in never saved.
    NightlyRun.objects.filter(pk=killed.pk).update(status="running", finished_at=None, report={}, error="", heartbeat_at=first_at)
    assert killed.steps.get(name="renewals").clients == 0
    with time_machine.travel(first_at + datetime.timedelta(hours=1), tick=False):
        later = night_run.run_nightly(at=night_of(NIGHT))
    killed.refresh_from_db()
    renewals = killed.steps.get(name="renewals")
    assert killed.status == NightlyRun.Status.INTERRUPTED == "interrupted" and "Interrupted" in killed.error
    assert (renewals.clients, renewals.charged_cents) == (2, 2 * FEE) and killed.report["interrupted"] is True
    assert later.status == "done" and later.steps.get(name="renewals").clients == 1  # the one left (the two renewed are no longer due)
    assert_each_renewed_once(clients)


def test_issue17_a_running_night_with_a_recent_heartbeat_is_not_closed_without_the_lock(db):
    """Without PostgreSQL's lock (SQLite) only a silent run is taken for dead."""
    from billing.night.recount import close_interrupted

    alive = NightlyRun.objects.create(night=NIGHT, at=night_of(NIGHT))
    assert close_interrupted(locked=False) == []
    alive.refresh_from_db()
    assert alive.status == "running"
    NightlyRun.objects.filter(pk=alive.pk).update(heartbeat_at=night_of(NIGHT) - datetime.timedelta(hours=1),
                                                  started_at=night_of(NIGHT) - datetime.timedelta(hours=1))
    with time_machine.travel(night_of(NIGHT), tick=False):
        assert [r.pk for r in close_interrupted(locked=False)] == [alive.pk]
    alive.refresh_from_db()
    assert alive.status == "interrupted"


def test_issue17_the_admin_shows_an_interrupted_night_and_a_silent_running_one(client, staff):
    interrupted = NightlyRun.objects.create(night=NIGHT, at=night_of(NIGHT), status=NightlyRun.Status.INTERRUPTED, error="Interrupted (its process gone)")
    long_ago = timezone.now() - datetime.timedelta(hours=2)
    silent = NightlyRun.objects.create(night=NIGHT, at=night_of(NIGHT), heartbeat_at=long_ago, started_at=long_ago)
    client.force_login(staff)
    page = client.get(f"/admin/billing/nightlyrun/{interrupted.pk}/change/")
    assert page.status_code == 200 and b"Interrupted (closed by the next run)" in page.content
    listing = client.get("/admin/billing/nightlyrun/")
    assert listing.status_code == 200 and b"no sign of life since" in listing.content and str(silent.pk).encode() in listing.content


# --- real processes: PostgreSQL, the test's own Redis, real workers killed ---------------------------------

pytestmark_processes = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def own_redis():
    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    ok, why = available()
    require_service(f"redis-server ({why})", ok)
    redis = OwnRedis(REDIS_PORT).start()
    yield redis
    redis.close()


def _env(redis: OwnRedis, queue: str, **extra) -> dict:
    return {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": redis.url(12), "CELERY_RESULT_BACKEND": redis.url(12),
            "CACHE_URL": redis.url(13), "CELERY_TASK_ALWAYS_EAGER": "false", "NIGHT_QUEUE": queue, "BILLING_COLLECTION_CONCURRENCY": "1", **extra}


def _worker(env: dict, queue: str, log, *, stall_at: str = "", marker: str = "") -> subprocess.Popen:
    args = ["worker", "--pool=solo", "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]
    stall = [stall_at, "1", marker] if stall_at else ["-", "0", os.devnull]
    return subprocess.Popen([sys.executable, "tests/billing/stalling.py", *stall, "worker", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(path, process: subprocess.Popen, seconds: float, log_path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not os.path.exists(path):
        assert process.poll() is None, log_path.read_text()[-3000:]
        time.sleep(0.1)
    assert os.path.exists(path), log_path.read_text()[-3000:]


NIGHT_STATEMENT = """
import datetime
from billing.night import run
from core.clock import night_of
run.CHUNK = {chunk}
night = run.run_nightly(at=night_of(datetime.date.fromisoformat("{night}")){inline})
print("night", night.pk, night.status)
"""


@pytestmark_processes
def test_issue17_a_worker_killed_mid_chunk_and_the_night_still_finishes_charging_everyone_once(own_redis, tmp_path):
    """Two renewal chunks on the workers; the worker running the first is killed (SIGKILL) in the
    middle of it, and a new worker starts (a supervisor's restart). The night sees the chunk
    started and never back, runs it itself after NIGHT_CHUNK_LOST_AFTER (8 s here; 330 s by
    default, and the broker's visibility timeout hands it out again after 15 min, not an hour),
    and finishes: every client charged exactly once, the lost chunk on the step's record."""
    clients = due_clients(4)
    queue, marker, log_path = f"night-{uuid.uuid4().hex[:8]}", tmp_path / "stalled", tmp_path / "processes.log"
    env = _env(own_redis, queue, NIGHT_CHUNK_LOST_AFTER="8")
    log = log_path.open("w")
    first = _worker(env, queue, log, stall_at="billing.subscriptions.renew", marker=str(marker))
    night = subprocess.Popen([sys.executable, "manage.py", "shell", "-c", NIGHT_STATEMENT.format(chunk=2, night=NIGHT, inline="")],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = None
    try:
        _wait_for(marker, first, 45, log_path)
        os.kill(first.pid, signal.SIGKILL)  # mid-chunk: its transaction never commits
        killed_at = time.monotonic()
        first.wait(timeout=10)
        second = _worker(env, queue, log)
        output = night.communicate(timeout=60)[0]
    finally:
        for process in (night, first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        log.close()
    took = time.monotonic() - killed_at
    assert night.returncode == 0, output[-3000:] + log_path.read_text()[-3000:]
    run = NightlyRun.objects.get(night=NIGHT)
    renewals = run.steps.get(name="renewals")
    assert run.status == "done" and renewals.clients == 4, (output[-2000:], renewals.failures)
    assert renewals.charged_cents == 4 * FEE
    lost = [f for f in renewals.failures if "its worker lost" in f["error"]]
    assert len(lost) == 1 and lost[0]["clients"] == [clients[0].pk, clients[1].pk]
    assert_each_renewed_once(clients)
    assert took < 45, f"the night finished {took:.0f} s after its worker was killed"  # NIGHT_CHUNK_LOST_AFTER (8 s) and the chunk


@pytestmark_processes
def test_issue17_a_night_process_killed_mid_step_is_closed_as_interrupted_by_the_next_run(own_redis, tmp_path):
    """`run_nightly` killed (SIGKILL) in its renewals step after two of four one-client chunks:
    its record stays `running` with no renewal counted. The next run (holding the lock the dead
    one's connection released) closes it as interrupted with its true counts — 2 renewed, $20.00
    charged — and renews the other two."""
    clients = due_clients(4)
    marker, log_path = tmp_path / "stalled", tmp_path / "night.log"
    # One chunk at a time, so that the kill comes after exactly two (with two at once, a third
    # may finish beside the one that stalls).
    env = _env(own_redis, "unused", NIGHT_INLINE_CONCURRENCY="1")
    log = log_path.open("w")
    statement = NIGHT_STATEMENT.format(chunk=1, night=NIGHT, inline=", inline=True")
    killed = subprocess.Popen([sys.executable, "tests/billing/stalling.py", "billing.subscriptions.renew", "3", str(marker), "exec", statement],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(marker, killed, 45, log_path)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
    finally:
        if killed.poll() is None:
            killed.kill()
        log.close()
    dead = NightlyRun.objects.get(night=NIGHT)
    assert dead.status == "running" and dead.steps.get(name="renewals").clients == 0  # what a killed night left
    assert sum(Invoice.objects.filter(client=c, reference__startswith="renewal:").count() for c in clients) == 2

    later = night_run.run_nightly(at=night_of(NIGHT), inline=True)
    dead.refresh_from_db()
    counted = dead.steps.get(name="renewals")
    assert dead.status == "interrupted" and (counted.clients, counted.charged_cents) == (2, 2 * FEE)
    assert later.status == "done" and later.steps.get(name="renewals").clients == 2  # the two left
    assert_each_renewed_once(clients)
