"""seed_demo (API.md): a staff superuser and verified demo clients; safe to run twice."""

import pytest
from django.core.management import call_command

from accounts.models import AccountStateChange, Client
from compliance.models import AuditLog

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_staff_and_verified_clients_and_is_safe_twice(capsys):
    call_command("seed_demo")
    counts = (Client.objects.count(), AccountStateChange.objects.count(), AuditLog.objects.count())
    call_command("seed_demo")

    assert (Client.objects.count(), AccountStateChange.objects.count(), AuditLog.objects.count()) == counts
    admin = Client.objects.get(email="admin@example.com")
    assert admin.is_staff and admin.is_superuser and admin.check_password("admin-demo-pass")
    clients = Client.objects.filter(is_staff=False)
    assert clients.count() >= 3 and all(c.email_verified for c in clients)
    assert Client.objects.get(email="carol@example.com").status == "blocked"
    assert "admin@example.com" in capsys.readouterr().out
