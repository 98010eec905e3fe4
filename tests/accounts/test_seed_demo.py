"""seed_demo (API.md): a staff superuser and verified demo clients; safe to run twice."""

import pytest
from django.core.management import call_command

from accounts.models import AccountStateChange, Client
from compliance.models import AuditLog
from projects.models import Project, Subscriber

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_staff_clients_projects_and_is_safe_twice(capsys):
    call_command("seed_demo")
    counts = (Client.objects.count(), AccountStateChange.objects.count(), AuditLog.objects.count(), Project.objects.count(), Subscriber.objects.count())
    call_command("seed_demo")

    assert (Client.objects.count(), AccountStateChange.objects.count(), AuditLog.objects.count(), Project.objects.count(), Subscriber.objects.count()) == counts
    alice = Client.objects.get(email="alice@example.com")
    assert Project.objects.filter(owner=alice).count() == 2
    assert Project.objects.filter(owner=alice, review="pending").exists()
    assert Subscriber.objects.filter(project__owner=alice, status="active").count() > 0
    from billing.models import LedgerEntry, Subscription

    assert Subscription.objects.get(client=alice).is_active
    assert LedgerEntry.objects.filter(wallet__client=alice).count() == 4  # verification, card payment, fee, top-up
    admin = Client.objects.get(email="admin@example.com")
    assert admin.is_staff and admin.is_superuser and admin.check_password("admin-demo-pass")
    clients = Client.objects.filter(is_staff=False)
    assert clients.count() >= 3 and all(c.email_verified for c in clients)
    assert Client.objects.get(email="carol@example.com").status == "blocked"
    assert "admin@example.com" in capsys.readouterr().out
