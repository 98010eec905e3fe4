"""On PostgreSQL, separate connections in real threads at the same moment: one charge, gapless
numbers, a consistent ledger (PER-7, WAL-1, WAL-6)."""

import pytest
from django.db import connection

from billing import services
from billing.models import Card, Invoice, LedgerEntry, PaymentAttempt, Subscription
from core.exceptions import RuleRefused
from tests.billing.conftest import balance, charged, verified
from tests.conftest import require_service
from tests.factories import make_client
from tests.projects.test_concurrency import all_at_once

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def payer_pg():
    require_service("PostgreSQL", connection.vendor == "postgresql")
    client = verified("racer@example.com")
    services.attach_card(client=client, token="tok_visa")
    return client


def consistent(client) -> None:
    entries = LedgerEntry.objects.filter(wallet__client=client)
    assert balance(client) == sum(e.amount_cents for e in entries)
    assert entries.count() == entries.values("idempotency_key").distinct().count()


def test_per7_four_activations_at_once_charge_once(payer_pg):
    results = all_at_once(4, lambda: services.activate_pro(client=payer_pg, period="monthly"))
    made = [r for r in results if isinstance(r, Subscription)]
    refused = [r for r in results if isinstance(r, RuleRefused)]
    assert len(made) == 1 and len(refused) == 3 and {r.code for r in refused} == {"already_active"}, results
    assert charged(payer_pg) == 100 + 900
    assert PaymentAttempt.objects.filter(kind="charge").count() == 1
    assert Invoice.objects.filter(kind="invoice").count() == 1
    consistent(payer_pg)
    assert balance(payer_pg) == 0


def test_wal5_four_top_ups_with_one_key_at_once_charge_once(payer_pg):
    results = all_at_once(4, lambda: services.top_up(client=payer_pg, amount_cents=1500, idempotency_key="same"))
    assert all(isinstance(r, services.TopUp) for r in results), results
    assert len({r.entry.pk for r in results}) == 1
    assert charged(payer_pg) == 100 + 1500 and balance(payer_pg) == 1600
    consistent(payer_pg)


def test_wal4_four_verifications_of_one_card_at_once_charge_once(db):
    require_service("PostgreSQL", connection.vendor == "postgresql")
    client = verified("cards@example.com")
    results = all_at_once(4, lambda: services.attach_card(client=client, token="tok_visa"))
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, RuleRefused)], results
    assert charged(client) == 100 and balance(client) == 100
    assert Card.objects.filter(client=client, removed_at__isnull=True, verified_at__isnull=False).count() == 1
    consistent(client)


def test_wal6_invoice_numbers_taken_at_once_are_gapless(db):
    require_service("PostgreSQL", connection.vendor == "postgresql")
    staff = make_client(email="staff-racer@example.com")
    clients = [verified(f"c{n}@example.com") for n in range(6)]
    counter = iter(clients)
    import threading

    lock = threading.Lock()

    def credit():
        with lock:
            client = next(counter)
        return services.staff_credit(client=client, amount_cents=100, reason="race", actor=staff)

    results = all_at_once(6, credit)
    assert all(isinstance(r, LedgerEntry) for r in results), results
    sequences = sorted(Invoice.objects.filter(series="CN").values_list("sequence", flat=True))
    assert sequences == list(range(1, 7))
