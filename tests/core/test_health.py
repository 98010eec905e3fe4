"""`/health/` for a load balancer (issue 17, item 6): 200 when the database, the cache, the broker,
the last night and the migrations are well, 503 naming the check that is not; JSON on request;
nothing secret in the answer. (The database down is the fault tests' part, item 5.)"""

import datetime

import pytest
import time_machine
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from billing.health import max_silence
from billing.models import NightlyRun

JSON = {"HTTP_ACCEPT": "application/json"}
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)


def health(client):
    response = client.get("/health/", **JSON)
    return response, response.json()


@pytest.fixture(autouse=True)
def only_this_tests_nights(db):
    """The check reads the newest night: a night a process-level test committed in this worker's
    database (tests/billing/test_night_faults.py runs real `run_nightly` processes) is not ours."""
    NightlyRun.objects.all().delete()


def night(status=NightlyRun.Status.DONE, *, started: datetime.datetime, finished: datetime.datetime | None = None, **fields):
    return NightlyRun.objects.create(night=started.date(), at=started, status=status, started_at=started,
                                     finished_at=finished if finished is not None or status == NightlyRun.Status.RUNNING else started + datetime.timedelta(minutes=5),
                                     **fields)


@pytest.mark.django_db
def test_issue17_healthy_install_answers_200_with_every_check(client):
    with time_machine.travel(NOW, tick=False):
        night(started=NOW - datetime.timedelta(hours=11))
        response, body = health(client)

    assert response.status_code == 200, body
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("max-age=0")  # never cached by a proxy
    assert body["status"] == "healthy" and body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "migrations", "last_night"}
    assert all(value.startswith("OK") for value in body["checks"].values()), body
    assert body["checks"]["last_night"] == "OK (the night of 2026-03-10 finished at 2026-03-10 01:05 UTC)"


@pytest.mark.django_db
def test_issue17_new_install_without_a_night_is_healthy_with_a_note(client):
    response, body = health(client)

    assert response.status_code == 200, body
    assert body["checks"]["last_night"] == "OK (no night has run yet)"


@pytest.mark.django_db
def test_issue17_dry_runs_do_not_count_as_nights(client):
    with time_machine.travel(NOW, tick=False):
        night(started=NOW - datetime.timedelta(hours=50))
        night(started=NOW - datetime.timedelta(hours=1), dry_run=True)
        response, body = health(client)

    assert response.status_code == 503
    assert body["failed"] == ["last_night"]


@pytest.mark.django_db
def test_issue17_broker_reported_by_mode(client, settings):
    """Eager (the default here): nothing to reach, said so. With Redis configured (CI): it answers."""
    response, body = health(client)

    assert response.status_code == 200, body
    if settings.CELERY_TASK_ALWAYS_EAGER:
        assert body["checks"]["broker"] == "OK (tasks run inline: no broker configured)"
    else:
        assert body["checks"]["broker"] == "OK (redis answers)"


@pytest.mark.django_db
def test_issue17_unreachable_broker_answers_503_without_its_url(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://:broker-password-123@127.0.0.1:9/0"  # port 9: nothing listens

    response, body = health(client)

    assert response.status_code == 503
    assert body["status"] == "unhealthy" and body["failed"] == ["broker"]
    assert body["checks"]["broker"].startswith("Unavailable: the broker does not answer")
    assert "broker-password-123" not in response.content.decode() and "127.0.0.1" not in response.content.decode()
    assert body["checks"]["database"] == "OK"  # the others still reported


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in NightlyRun.Status.values if s not in ("running", "done")])  # failed, interrupted
def test_issue17_failed_last_night_answers_503_naming_it(client, status):
    with time_machine.travel(NOW, tick=False):
        night(started=NOW - datetime.timedelta(hours=2))  # an older run finished...
        night(status, started=NOW - datetime.timedelta(hours=1), error="Traceback ... secret-key-material")  # ...the last did not
        response, body = health(client)

    assert response.status_code == 503
    assert body["failed"] == ["last_night"]
    assert body["checks"]["last_night"].startswith(f"Unavailable: the night of {(NOW - datetime.timedelta(hours=1)).date()} did not finish")
    assert "Traceback" not in response.content.decode()  # the night's error stays in the admin
    assert all(body["checks"][name] == "OK" for name in ("database", "migrations"))


@pytest.mark.django_db
def test_issue17_stale_last_night_answers_503(client):
    with time_machine.travel(NOW, tick=False):
        night(started=NOW - datetime.timedelta(hours=30))
        response, body = health(client)

    assert response.status_code == 503
    assert body["failed"] == ["last_night"]
    assert "no night since the night of 2026-03-09, finished 29 h ago" in body["checks"]["last_night"]


@pytest.mark.django_db
def test_issue17_last_night_just_within_26_hours_is_healthy(client):
    with time_machine.travel(NOW, tick=False):
        night(started=NOW - datetime.timedelta(hours=26, minutes=4))  # finished 25 h 59 min ago
        response, body = health(client)

    assert response.status_code == 200, body


@pytest.mark.django_db
def test_issue17_running_night_is_healthy_until_silent(client):
    with time_machine.travel(NOW, tick=False):
        run = night(NightlyRun.Status.RUNNING, started=NOW - datetime.timedelta(minutes=2))
        response, body = health(client)
        assert response.status_code == 200, body
        assert body["checks"]["last_night"] == "OK (the night of 2026-03-10 is running since 2026-03-10 11:58 UTC)"

        # No sign of life (heartbeat, or its start) for longer than the night's own stale limit.
        silent = NOW - max_silence() - datetime.timedelta(minutes=1)
        NightlyRun.objects.filter(pk=run.pk).update(started_at=silent, **({"heartbeat_at": silent} if hasattr(run, "heartbeat_at") else {}))
        response, body = health(client)

    assert response.status_code == 503
    assert "is marked running but silent since" in body["checks"]["last_night"]


def unapply_latest_migration(app: str) -> str:
    """As if the code shipped before `migrate` ran: the app's latest migration not recorded."""
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app=app).order_by("-id").first()
    recorder.migration_qs.filter(pk=latest.pk).delete()
    return f"{app}.{latest.name}"


@pytest.mark.django_db
def test_issue17_pending_migration_answers_503_naming_it(client):
    pending = unapply_latest_migration("billing")

    response, body = health(client)

    assert response.status_code == 503
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == f"Unavailable: 1 migration(s) not applied: {pending}"


@pytest.mark.django_db
def test_issue17_health_as_text_and_as_a_page(client):
    text = client.get("/health/", HTTP_ACCEPT="text/plain")
    page = client.get("/health/", HTTP_ACCEPT="text/html")

    assert text.status_code == 200 and text["Content-Type"].startswith("text/plain")
    assert "database: OK\n" in text.content.decode()
    assert page.status_code == 200 and "<h1>Healthy</h1>" in page.content.decode()
    # The page's own style carries the request's nonce: it shows under the CSP.
    policy = page.headers.get("Content-Security-Policy") or page.headers["Content-Security-Policy-Report-Only"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<style nonce="{nonce}">' in page.content.decode()


@pytest.mark.django_db
def test_issue17_health_json_by_query_and_get_only(client):
    assert client.get("/health/?format=json").json()["status"] == "healthy"
    assert client.post("/health/").status_code == 405


@pytest.mark.django_db
def test_issue17_long_night_with_a_recent_heartbeat_is_healthy(client):
    """A night started long ago that still shows signs of life (item 5's heartbeat) is no alarm."""
    with time_machine.travel(NOW, tick=False):
        night(NightlyRun.Status.RUNNING, started=NOW - max_silence() * 3, heartbeat_at=NOW - datetime.timedelta(minutes=1))
        response, body = health(client)

    assert response.status_code == 200, body
    assert body["checks"]["last_night"].startswith("OK (the night of")


# --- /health/ready/: the load balancer's probe --------------------------------------------------


def ready(client):
    response = client.get("/health/ready/", **JSON)
    return response, response.json()


@pytest.mark.django_db
def test_issue17_ready_probe_checks_only_what_this_node_needs(client):
    response, body = ready(client)

    assert response.status_code == 200, body
    assert body == {"status": "healthy", "failed": [], "checks": {"database": "OK", "migrations": "OK"}}


@pytest.mark.django_db
def test_issue17_ready_probe_stays_200_when_the_broker_or_the_night_fails(client, settings):
    """Every node fails those at once: a balancer probing /health/ would take them all out while
    requests still work (the outbox keeps the tasks). /health/ still says so, for monitoring."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens
    with time_machine.travel(NOW, tick=False):
        night(NightlyRun.Status.FAILED, started=NOW - datetime.timedelta(hours=1))
        full, full_body = health(client)
        probe, probe_body = ready(client)

    assert full.status_code == 503 and sorted(full_body["failed"]) == ["broker", "last_night"]
    assert probe.status_code == 200 and probe_body["failed"] == []


@pytest.mark.django_db
def test_issue17_ready_probe_answers_503_on_a_pending_migration(client):
    pending = unapply_latest_migration("projects")  # this node's code is newer than its database

    response, body = ready(client)

    assert response.status_code == 503
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == f"Unavailable: 1 migration(s) not applied: {pending}"


@pytest.mark.django_db
def test_issue17_ready_probe_as_text_and_get_only(client):
    text = client.get("/health/ready/", HTTP_ACCEPT="text/plain")
    assert text.status_code == 200 and text.content.decode() == "database: OK\nmigrations: OK\n"
    assert client.post("/health/ready/").status_code == 405
