"""CMP-5 the append-only audit log: written by record(), readable by staff, changeable by nobody."""

import pytest

from accounts import services
from compliance.models import AppendOnlyError, AuditLog
from compliance.services import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(client_account, staff):
    services.block(client=client_account, reason="staff", actor=staff)
    return AuditLog.objects.get(action="account.blocked")


def test_cmp5_record_keeps_actor_target_client_details_and_ip(client, client_account, staff):
    client.force_login(client_account)
    client.post("/api-keys/", {"name": "ip check"}, REMOTE_ADDR="203.0.113.9")
    entry = AuditLog.objects.get(action="api_key.created")
    assert entry.actor == client_account and entry.actor_label == "ada@example.com"
    assert entry.client == client_account
    assert entry.target_type == "accounts.apikey" and entry.details == {"name": "ip check"}
    assert entry.ip == "203.0.113.9"
    assert entry.created_at is not None


def test_cmp5_entry_cannot_be_changed_or_deleted_through_the_orm(entry):
    entry.action = "something.else"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    assert AuditLog.objects.get(pk=entry.pk).action == "account.blocked"


def test_cmp5_admin_refuses_change_and_delete_even_for_superusers(client, staff, entry):
    client.force_login(staff)
    base = "/admin/compliance/auditlog/"

    assert client.get(base).status_code == 200
    view = client.get(f"{base}{entry.pk}/change/")
    assert view.status_code == 200  # readable
    assert b'name="_save"' not in view.content
    assert client.post(f"{base}{entry.pk}/change/", {"action": "tampered"}).status_code == 403
    assert client.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{base}add/").status_code == 403
    assert b"delete_selected" not in client.get(base).content
    entry.refresh_from_db()
    assert entry.action == "account.blocked"
    assert AuditLog.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize("query", ["staff@example.com", "ada@example.com", "account.blocked"])
def test_cmp5_admin_search_by_actor_client_and_action(client, staff, entry, query):
    client.force_login(staff)
    record(action="unrelated.event")
    results = client.get("/admin/compliance/auditlog/", {"q": query}).context["cl"].result_list
    assert entry in results
    assert all(r.action != "unrelated.event" for r in results)


def test_cmp5_support_staff_can_read_the_log(client, entry):
    from django.contrib.auth.models import Group

    from accounts.models import Client

    member = Client.objects.create_user(email="s2@example.com", password="x-pass-12345", name="S", is_staff=True)
    member.groups.add(Group.objects.get(name="support"))
    client.force_login(member)
    assert client.get("/admin/compliance/auditlog/").status_code == 200
    assert client.post(f"/admin/compliance/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
