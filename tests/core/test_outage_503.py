"""Issue 17, item 5: every outage answers 503 with a JSON body under /api/ (a plain page
elsewhere) and a Retry-After, never a bare 500.

First in process (each outage error raised where a request meets it: a view, a middleware), then
against real services: a gunicorn of the project on its own PostgreSQL (port 55433) and its own
Redis (port 56380, the cache and the broker), each stopped in turn."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerDown
from redis.exceptions import ConnectionError as RedisDown
from redis.exceptions import TimeoutError as RedisTimeout

from core import outage
from tests.conftest import require_service
from tests.factories import api_as, make_client
from tests.own_services import PG_BIN, OwnPostgres, OwnRedis, available

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def assert_json_503(response, body=None) -> None:
    body = body if body is not None else response.json()
    assert response.status_code == 503, (response.status_code, response.content[:500])
    assert body["code"] == "service_unavailable" and body["detail"].endswith("try again in a minute.")
    assert int(response.headers["Retry-After"]) == outage.RETRY_AFTER_SECONDS


# --- in process ---------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError("connection refused"), RedisDown("Error 111 connecting"), RedisTimeout("Timeout reading"),
                                   BrokerDown("[Errno 111] Connection refused")], ids=["database", "redis", "redis-timeout", "broker"])
def test_issue17_an_api_view_meeting_an_outage_answers_503_json(db, monkeypatch, error):
    client = make_client(email="outage@example.com")
    api = api_as(client)

    def down(*args, **kwargs):
        raise error

    monkeypatch.setattr("accounts.api.MeApi.get", down)
    response = api.get("/api/v1/me/")
    assert_json_503(response)
    assert response["Content-Type"] == "application/json"


def test_issue17_an_outage_raised_in_a_middleware_answers_503_too(db, monkeypatch):
    """The language middleware reads the session's user before any view: the database down there
    is Django's 500 inside the handler, turned into the 503."""
    client = make_client(email="mw@example.com")
    browser = Client(raise_request_exception=False)
    browser.force_login(client)

    def down(self, request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("accounts.middleware.ClientLanguageMiddleware.__call__", down)
    api = browser.get("/api/v1/me/")
    assert_json_503(api)
    page = browser.get(reverse("dashboard:billing"))
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html")
    assert b"Briefly unavailable" in page.content and b"Traceback" not in page.content
    assert int(page["Retry-After"]) == outage.RETRY_AFTER_SECONDS


def test_issue17_the_503_reads_neither_the_database_nor_the_cache(db, monkeypatch, django_assert_num_queries):
    from django.core.cache import cache

    def no_cache(*args, **kwargs):
        raise AssertionError("the 503 read the cache")

    for name in ("get", "get_many", "set", "add", "incr"):
        monkeypatch.setattr(cache, name, no_cache)
    request = Client().get("/").wsgi_request  # any request object: the page is built from its path alone
    with django_assert_num_queries(0):
        json_response = outage.outage_response(type("R", (), {"path": "/api/v1/me/", "method": "GET", "META": {}})(), OperationalError("down"))
        page = outage.outage_response(request, RedisDown("down"))
    assert json.loads(json_response.content)["code"] == "service_unavailable" and page.status_code == 503


def test_issue17_an_error_that_is_not_an_outage_is_left_alone(db, monkeypatch):
    """A bug stays a 500 (and is reported as one): only unreachable services are 503s."""
    client = make_client(email="bug@example.com")
    api = api_as(client)
    api.raise_request_exception = False

    def bug(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr("accounts.api.MeApi.get", bug)
    assert api.get("/api/v1/me/").status_code == 500


def test_issue17_an_outage_wrapped_in_another_error_is_still_an_outage():
    try:
        try:
            raise RedisDown("down")
        except RedisDown as exc:
            raise RuntimeError("the cache failed") from exc
    except RuntimeError as wrapped:
        assert outage.is_outage(wrapped)
    assert not outage.is_outage(ValueError("no"))


# --- against real services --------------------------------------------------------------------------

PG_PORT, REDIS_PORT = 55433, 56380


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_schema(source: dict, target_url: str, env: dict) -> None:
    """The test database's schema and its migrations' rows (already migrated: PostgreSQL in CI),
    copied into the own server in a second; elsewhere `migrate` (slower)."""
    if source["ENGINE"].endswith("postgresql"):
        dump = subprocess.run([str(PG_BIN / "pg_dump"), "--no-owner", "--no-privileges", "-h", source["HOST"] or "127.0.0.1", "-p", str(source["PORT"] or 5432),
                               "-U", source["USER"] or "postgres", source["NAME"]], check=True, capture_output=True, timeout=60,
                              env={**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""})
        subprocess.run([str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", target_url], input=dump.stdout, check=True, capture_output=True, timeout=60)
        return
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn on its own PostgreSQL and Redis, with a client, its key and a session."""
    ok, why = available()
    require_service(f"PostgreSQL and Redis binaries ({why})", ok)
    pg, redis = OwnPostgres(PG_PORT), OwnRedis(REDIS_PORT)
    server, log_path = None, tmp_path_factory.mktemp("outage") / "server.log"
    try:
        pg.start()
        redis.start()
        url = pg.create_database("h6")
        env = {**os.environ, "DATABASE_URL": url, "CACHE_URL": redis.url(13), "CELERY_BROKER_URL": redis.url(12),
               "CELERY_TASK_ALWAYS_EAGER": "false", "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "config.settings"}
        with django_db_blocker.unblock():
            _copy_schema(connection.settings_dict, url, env)
        port, secrets = _free_port(), log_path.parent / "secrets.json"
        log = log_path.open("w")
        server = subprocess.Popen([sys.executable, "tests/core/outage_server.py", str(port), str(secrets)], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(base + "/api/v1/me/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert secrets.exists(), log_path.read_text()[-3000:]
        yield {"base": base, "pg": pg, "redis": redis, "log": log_path, **json.loads(secrets.read_text())}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        redis.close()
        pg.close()


def _requests(served) -> dict[str, httpx.Response]:
    n = time.monotonic_ns()
    with httpx.Client(base_url=served["base"], timeout=30, headers={"Accept": "application/json"}) as http:
        answers = {}
        answers["keyed"] = http.get("/api/v1/me/", headers={"Authorization": f"Bearer {served['key']}"})
        answers["session"] = httpx.get(served["base"] + "/api/v1/me/", cookies={"sessionid": served["session"]}, timeout=30)
        answers["registration"] = http.post("/api/v1/auth/register/", json={
            "name": "New", "email": f"new{n}@example.com", "password": "correct-horse-battery", "accept_terms": True, "age_confirmed": True})
        return answers


def _dashboard(served) -> httpx.Response:
    return httpx.get(served["base"] + reverse("dashboard:billing"), cookies={"sessionid": served["session"]}, timeout=30)


def test_issue17_real_outages_answer_503_json_under_the_api_and_a_page_elsewhere(served):
    """Stopping the service's own Redis (cache and broker), then its own PostgreSQL: the keyed
    request, the session request and registration never answer 500, and once the database is
    gone each is a 503 with the JSON error and a Retry-After; the dashboard shows the plain page.
    With both back, everything answers again."""
    up = _requests(served)
    assert [up[k].status_code for k in ("keyed", "session", "registration")] == [200, 200, 201], served["log"].read_text()[-3000:]
    assert _dashboard(served).status_code == 200

    served["redis"].stop()
    started = time.monotonic()
    no_redis = _requests(served)
    for name, response in no_redis.items():
        assert response.status_code != 500, (name, response.text[:500])
        if response.status_code >= 500:
            assert_json_503(response)
    assert time.monotonic() - started < 30, "a Redis outage must not hold requests for long"
    assert _dashboard(served).status_code != 500

    served["pg"].stop()
    no_services = _requests(served)
    for response in no_services.values():
        assert_json_503(response)
    served["redis"].start()
    no_database = _requests(served)
    for response in no_database.values():
        assert_json_503(response)
    page = _dashboard(served)
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "Briefly unavailable" in page.text and int(page.headers["Retry-After"]) == outage.RETRY_AFTER_SECONDS

    served["pg"].start()
    back = _requests(served)
    assert [back[k].status_code for k in ("keyed", "session", "registration")] == [200, 200, 201]

