"""ACC-5 API keys: named, shown once, stored hashed, revocable, rate-limited per key."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import ApiKey
from compliance.models import AuditLog
from tests.factories import api_as, key_for

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/api-keys/"


def test_acc5_create_key_shows_the_secret_once(client_account):
    api = api_as(client_account)

    created = api.post(KEYS, {"name": "CRM sync"}, format="json")

    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "CRM sync"
    assert body["key"].startswith("ak_")
    listed = api.get(KEYS).json()
    assert set(listed) >= {"results", "next", "previous"}
    assert {k["name"] for k in listed["results"]} == {"test", "CRM sync"}
    assert all("key" not in k and "digest" not in k for k in listed["results"])
    assert AuditLog.objects.filter(action="api_key.created", client=client_account, target_id=str(body["id"])).exists()


def test_acc5_the_secret_is_not_in_the_database(client_account):
    body = api_as(client_account).post(KEYS, {"name": "secret check"}, format="json").json()
    secret_part = body["key"].split("_", 2)[2]

    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prefix, digest FROM accounts_apikey")
        stored = " ".join(" ".join(row) for row in cursor.fetchall())
        cursor.execute("SELECT details FROM compliance_auditlog")
        stored += " ".join(str(row[0]) for row in cursor.fetchall())

    assert secret_part not in stored
    assert body["key"] not in stored


def test_acc5_key_authenticates_and_revoked_key_answers_401(client_account, api):
    key = key_for(client_account)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/me/").status_code == 200
    key_id = ApiKey.objects.get(client=client_account).pk

    assert api.delete(f"{KEYS}{key_id}/").status_code == 204

    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert ApiKey.objects.get(pk=key_id).revoked_at is not None
    assert AuditLog.objects.filter(action="api_key.revoked", target_id=str(key_id)).exists()


def test_acc5_wrong_secret_with_a_real_prefix_answers_401(client_account, api):
    key = key_for(client_account)
    forged = key[: key.rindex("_") + 1] + "x" * 43
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api.get("/api/v1/me/").status_code == 401


def test_no_credentials_answers_401_with_the_error_shape(api, db):
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail"}


def test_acc5_another_clients_key_is_404_and_stays_live(client_account, other_account):
    others = ApiKey.objects.get(pk=api_as(other_account).get(KEYS).json()["results"][0]["id"])

    response = api_as(client_account).delete(f"{KEYS}{others.pk}/")

    assert response.status_code == 404
    others.refresh_from_db()
    assert others.revoked_at is None


def test_acc5_key_without_a_name_answers_400_and_creates_nothing(client_account):
    api = api_as(client_account)
    before = ApiKey.objects.count()
    response = api.post(KEYS, {"name": ""}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert ApiKey.objects.count() == before


def test_acc5_rate_limit_answers_429_with_retry_after(client_account, api):
    key = key_for(client_account)
    ApiKey.objects.update(rate_limit_per_minute=3)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    start = timezone.now().replace(second=10, microsecond=0)

    with time_machine.travel(start, tick=False) as traveller:
        assert [api.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
        limited = api.get("/api/v1/me/")
        assert limited.status_code == 429
        assert limited["Retry-After"] == "20"  # the next of 3 slots a minute
        assert limited.json()["code"] == "throttled"
        traveller.shift(timedelta(seconds=20))
        assert api.get("/api/v1/me/").status_code == 200


def test_acc5_the_default_limit_is_180_a_minute_even_across_a_minute_boundary(client_account, api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(client_account)}")
    start = timezone.now().replace(second=59, microsecond=500_000)
    with time_machine.travel(start, tick=False) as traveller:
        before = [api.get("/api/v1/me/").status_code for _ in range(181)]
        traveller.shift(timedelta(seconds=1))  # the clock minute turns: no fresh 180
        after = [api.get("/api/v1/me/").status_code for _ in range(4)]
    assert before == [200] * 180 + [429]
    assert after == [200, 200, 200, 429]  # one second earns 180/60 = 3 requests


def test_acc5_key_that_keeps_exceeding_is_locked_longer_each_time_up_to_720s(client_account, api):
    key = key_for(client_account)
    ApiKey.objects.update(rate_limit_per_minute=1)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    waits = []
    start = timezone.now().replace(second=0, microsecond=0)

    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(15):
            assert api.get("/api/v1/me/").status_code == 200
            limited = api.get("/api/v1/me/")
            assert limited.status_code == 429
            wait = int(limited["Retry-After"])
            waits.append(wait)
            traveller.shift(timedelta(seconds=wait))
            # step to the start of a fresh minute so the next round begins with an empty window
            now = timezone.now()
            traveller.shift(timedelta(seconds=(60 - now.second) % 60, microseconds=-now.microsecond))

    assert waits[0] == 60
    assert waits[1:5] == [60, 120, 180, 240]
    assert max(waits) == 720
    assert waits[-1] == 720
    assert AuditLog.objects.filter(action="api_key.locked", client=client_account).count() == 14


def test_acc5_sessions_are_not_limited_by_key_limits(client, client_account):
    client.force_login(client_account)
    assert all(client.get("/api/v1/me/").status_code == 200 for _ in range(5))


def test_acc5_key_list_query_count_is_constant(client_account, django_assert_max_num_queries):
    api = api_as(client_account)
    for _ in range(20):
        key_for(client_account)
    with django_assert_max_num_queries(4):
        response = api.get(KEYS)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 21


def test_acc5_dashboard_creates_and_revokes_keys(client, client_account):
    client.force_login(client_account)

    client.post("/api-keys/", {"name": "from dashboard"})
    page = client.get("/account/")

    assert b"from dashboard" in page.content
    key = ApiKey.objects.get(name="from dashboard")
    assert f"ak_{key.prefix}_".encode() in page.content  # the whole key, shown this once
    assert b"shown this once" in page.content
    assert b"shown this once" not in client.get("/account/").content

    client.post(f"/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
