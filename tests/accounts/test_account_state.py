"""ACC-3 account states and blocks with their history; DEA-5 the /me/ deletion route."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services
from accounts.models import AccountStateChange, ApiKey, Client
from compliance.models import AuditLog
from tests.factories import PASSWORD, api_as

pytestmark = pytest.mark.django_db


def test_acc3_block_until_records_history_and_audit(client_account, staff):
    until = timezone.now() + timedelta(days=1)

    services.block(client=client_account, reason="funnel_loop", until=until, actor=staff, note="loop in funnel 7")

    client_account.refresh_from_db()
    assert (client_account.status, client_account.block_reason, client_account.blocked_until) == ("blocked", "funnel_loop", until)
    change = AccountStateChange.objects.get(client=client_account)
    assert (change.from_status, change.to_status, change.reason, change.actor, change.note) == ("active", "blocked", "funnel_loop", staff, "loop in funnel 7")
    entry = AuditLog.objects.get(action="account.blocked", client=client_account)
    assert entry.actor == staff and entry.details["reason"] == "funnel_loop"


def test_acc3_me_shows_the_block(client_account):
    api = api_as(client_account)
    until = timezone.now() + timedelta(days=7)
    services.block(client=client_account, reason="abuse", until=until)

    me = api.get("/api/v1/me/").json()

    assert me["status"] == "blocked"
    assert me["block_reason"] == "abuse"
    assert me["blocked_until"].startswith(until.strftime("%Y-%m-%dT%H:%M"))
    assert set(me) == {"id", "email", "name", "email_verified", "status", "block_reason", "blocked_until", "tariff", "restrictions", "language"}
    assert [(r["kind"], r["reason"]) for r in me["restrictions"]] == [("block", "abuse")]


def test_acc3_blocked_client_still_reaches_me_and_its_keys_and_makes_no_new_one(client_account):
    api = api_as(client_account)
    services.block(client=client_account, reason="billing")
    assert api.get("/api/v1/me/").status_code == 200
    assert api.get("/api/v1/api-keys/").status_code == 200
    refused = api.post("/api/v1/api-keys/", {"name": "not while blocked"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "account_blocked")  # ACC-3
    assert ApiKey.objects.filter(client=client_account, name="not while blocked").count() == 0


def test_acc3_unblock_returns_to_active_with_history(client_account, staff):
    services.block(client=client_account, reason="staff", actor=staff)

    services.unblock(client=client_account, actor=staff, note="appeal accepted")

    client_account.refresh_from_db()
    assert (client_account.status, client_account.block_reason, client_account.blocked_until) == ("active", "", None)
    assert list(AccountStateChange.objects.filter(client=client_account).order_by("created_at", "id").values_list("to_status", flat=True)) == ["blocked", "active"]
    assert AuditLog.objects.filter(action="account.reactivated", client=client_account, actor=staff).exists()


def test_acc3_unblock_for_another_reason_leaves_the_block(client_account):
    services.block(client=client_account, reason="abuse")
    services.unblock(client=client_account, reason="billing")
    client_account.refresh_from_db()
    assert client_account.status == "blocked" and client_account.block_reason == "abuse"


def test_acc3_blocking_twice_the_same_way_writes_one_history_row(client_account):
    services.block(client=client_account, reason="staff")
    services.block(client=client_account, reason="staff")
    assert AccountStateChange.objects.filter(client=client_account).count() == 1


def test_acc3_bad_block_reason_or_past_end_is_refused_and_changes_nothing(client_account):
    with pytest.raises(ValidationError):
        services.block(client=client_account, reason="bored")
    with pytest.raises(ValidationError):
        services.block(client=client_account, reason="staff", until=timezone.now() - timedelta(minutes=1))
    client_account.refresh_from_db()
    assert client_account.status == "active"
    assert not AccountStateChange.objects.exists()


def test_acc3_timed_block_ends_on_time(client_account):
    api = api_as(client_account)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        services.block(client=client_account, reason="funnel_loop", until=start + timedelta(days=1))
        traveller.shift(timedelta(days=1, seconds=1))
        # Even before the task runs, the block no longer shows.
        assert api.get("/api/v1/me/").json()["status"] == "active"

        assert services.lift_expired_blocks() == 1

    client_account.refresh_from_db()
    assert client_account.status == "active"
    assert AccountStateChange.objects.filter(client=client_account, to_status="active", actor=None).exists()
    assert services.lift_expired_blocks() == 0


def test_acc3_suspend_and_lift(client_account):
    services.suspend(client=client_account)
    client_account.refresh_from_db()
    assert client_account.status == "suspended"
    services.lift_suspension(client=client_account)
    client_account.refresh_from_db()
    assert client_account.status == "active"
    assert AuditLog.objects.filter(action="account.suspended", client=client_account).exists()


def test_acc3_database_refuses_a_block_without_reason(client_account):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Client.objects.filter(pk=client_account.pk).update(status="blocked", block_reason="")


def test_dea5_delete_me_with_wrong_password_answers_400_and_changes_nothing(client_account):
    api = api_as(client_account)
    response = api.delete("/api/v1/me/", {"password": "not-it"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    client_account.refresh_from_db()
    assert client_account.status == "active" and client_account.is_active


def test_dea5_delete_me_answers_204_and_closes_the_account(client_account):
    api = api_as(client_account)

    assert api.delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204

    client_account.refresh_from_db()
    assert client_account.status == "deleted" and not client_account.is_active
    assert not ApiKey.objects.filter(client=client_account, revoked_at__isnull=True).exists()
    assert api.get("/api/v1/me/").status_code == 401
    token = api_as(client_account)  # a new key for a closed account does not open it
    assert token.get("/api/v1/me/").status_code == 401
    from rest_framework.test import APIClient

    assert APIClient().post("/api/v1/auth/token/", {"email": client_account.email, "password": PASSWORD}, format="json").status_code == 401
    assert AuditLog.objects.filter(action="account.deleted", client=client_account).exists()


def test_me_query_count_is_constant(client_account, django_assert_max_num_queries):
    api = api_as(client_account)
    for reason in ("abuse", "staff", "funnel_loop"):
        services.block(client=client_account, reason=reason)
    services.suspend(client=client_account)
    with django_assert_max_num_queries(3):
        assert api.get("/api/v1/me/").status_code == 200
