import os

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.utils import translation

from tests.factories import make_client


def pytest_configure(config):
    from django.conf import settings

    from config.celery import app

    # A night chunk's card calls one at a time in the suite: calls in threads commit on their own
    # connections, outside a test's rolled-back transaction. Tests that run real processes (their
    # children read the environment) and test_payments_processes.py use the threads.
    settings.BILLING_COLLECTION_CONCURRENCY = 1
    # Fast hashing: the tests check who may sign in, not how hard the hash is to break.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each xdist worker gets its own Redis database, so clearing the cache in one test never
    # touches another worker's rate-limit or lockout counters.
    cache_conf = settings.CACHES["default"]
    if "redis" in cache_conf["BACKEND"].lower():
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        index = 1 + int(worker.removeprefix("gw") or 0)
        cache_conf["LOCATION"] = cache_conf["LOCATION"].rsplit("/", 1)[0] + f"/{index}"
    # Tasks run inline in the suite; the round-trip test turns this off for its worker.
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # In CI every service is there, so a skipped test is a failure (issue 3, item 10).
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where nothing may be skipped: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # A transactional test ends by flushing the database, data migrations' rows with it (legal
    # documents, staff groups). xdist hands a worker its files in any order, so the tests after it
    # would find them gone: put them back from the copy taken when the test database was made.
    yield
    marker = item.get_closest_marker("django_db")
    if nextitem is None or marker is None or not marker.kwargs.get("transaction"):
        return  # (after the last test the test database is gone already)
    from django.db import connections
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        for connection in connections.all(initialized_only=True):
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents:
                connection.creation.deserialize_db_from_string(contents)


@pytest.fixture(autouse=True)
def _site_language():
    """Each test starts in the site's language: a request leaves its own active in the thread."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def require_service(name: str, available: bool) -> None:
    """Skip a test whose outside service is missing, except in CI, where that is a failure."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI and is not configured.")
    pytest.skip(f"{name} is not configured here.")


@pytest.fixture
def client_account(db):
    return make_client(email="ada@example.com", name="Ada Client")


@pytest.fixture
def other_account(db):
    return make_client(email="bo@example.com", name="Bo Other")


@pytest.fixture
def staff(db):
    from accounts.models import Client

    return Client.objects.create_superuser(email="staff@example.com", password="staff-pass-12345", name="Staff")


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def mailbox():
    mail.outbox.clear()
    return mail.outbox

