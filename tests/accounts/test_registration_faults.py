"""Issue 17, item 5, for registration and keyed requests: with Redis (the broker and the cache)
down, registration answers 201 and its verification email goes once Redis is back; with the mail
server down it answers 201 and the email goes later; keyed requests go ahead, their rate limits
failing open (core/cache.py) rather than answering 500. Against a Redis of the test's own."""

import time

import pytest
from django.core import mail

from accounts.models import ApiKey, Client
from core.models import OutboxMessage
from tests import faults, mailers
from tests.factories import PASSWORD, api_as, make_client
from tests.faults import relay, run_queued

own_redis, broker, flaky_mail = faults.own_redis, faults.broker, mailers.flaky_mail  # the fault fixtures, found by name

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REGISTER = "/api/v1/auth/register/"
GOOD = {"name": "Grace Hopper", "email": "grace@example.com", "password": "a-long-unusual-passphrase", "accept_terms": True, "age_confirmed": True}


@pytest.fixture
def cache_on_own_redis(broker, settings):
    from core import cache as resilient

    settings.CACHES = {"default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": faults.URL.rsplit("/", 1)[0] + "/1"}}
    resilient.PAUSE_SECONDS, saved = 0.0, resilient.PAUSE_SECONDS  # retried at every call: the test brings Redis back at once
    yield broker
    resilient.PAUSE_SECONDS = saved


def verification_emails() -> list:
    return [m for m in mail.outbox if GOOD["email"] in m.to]


def test_issue17_registration_with_redis_down_answers_201_and_the_verification_email_goes_when_redis_is_back(api, cache_on_own_redis, flaky_mail):
    assert api.post(REGISTER, {**GOOD, "email": "warm@example.com"}, format="json").status_code == 201  # the first request warms up
    cache_on_own_redis.kill()
    mail.outbox.clear()
    started = time.monotonic()
    response = api.post(REGISTER, GOOD, format="json")
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 2
    assert Client.objects.filter(email=GOOD["email"]).exists()
    assert verification_emails() == []
    assert OutboxMessage.objects.filter(task="core.tasks.send_email", relayed_at__isnull=True).count() == 1

    cache_on_own_redis.start()
    assert relay() == 1 and run_queued() == ["core.tasks.send_email"]
    assert len(verification_emails()) == 1 and "/accounts/confirm-email/" in verification_emails()[0].body


def test_issue17_registration_with_the_mail_server_down_answers_201_and_the_email_goes_later(api, broker, flaky_mail):
    flaky_mail.down = True
    assert api.post(REGISTER, GOOD, format="json").status_code == 201
    assert Client.objects.filter(email=GOOD["email"]).exists()
    assert run_queued(rounds=1) == ["core.tasks.send_email"] and verification_emails() == []

    flaky_mail.down = False
    assert run_queued() == ["core.tasks.send_email"]
    assert len(verification_emails()) == 1


def test_issue17_keyed_requests_and_sign_in_with_the_cache_down_go_ahead_uncounted(cache_on_own_redis):
    ada = make_client(email="ada@example.com")
    api = api_as(ada)
    ApiKey.objects.update(rate_limit_per_minute=1)
    cache_on_own_redis.kill()
    # The per-key limit fails open while the cache is down: no 500, no 429 from a counter that is gone.
    assert [api.get("/api/v1/projects/").status_code for _ in range(3)] == [200, 200, 200]
    token = api.post("/api/v1/auth/token/", {"email": "ada@example.com", "password": PASSWORD}, format="json")
    assert token.status_code == 200 and token.json()["token"]

    cache_on_own_redis.start()  # back: the limit counts again
    assert [api.get("/api/v1/projects/").status_code for _ in range(2)] == [200, 429]
