"""Issue 11 with real processes and threads on PostgreSQL: a night killed by SIGKILL between the
gateway's answers and their booking, a top-up's worker killed after the charge, reconciliation
racing a slow night chunk, cards saved at once and while the night collects (PER-7, DUN-1,
CARD-4, WAL-5). The gateway's memory is the sandbox's table, shared by every process, so each
test counts what the card really paid (`card_paid`) against what the wallet booked."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import time_machine
from django.db import connection, connections

from billing import ledger, payments, services
from billing.models import PaymentAttempt, Subscription
from billing.night import run_nightly
from core.clock import night_of
from tests.billing.conftest import balance, verified
from tests.billing.gateways import SlowGateway, booked_from_cards, card_paid, path
from tests.conftest import require_service
from tests.core.test_celery_round_trip import ROOT
from tests.factories import api_as

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
RENEWAL_NIGHT = datetime.date(2027, 6, 2)


@pytest.fixture(autouse=True)
def postgresql():
    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child(target: str, when: str, statement: str, **env) -> subprocess.Popen:
    """A fresh process running `statement`, killed by SIGKILL when it reaches `target` (crash.py)."""
    environment = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": "memory://", **env}
    return subprocess.Popen([sys.executable, "tests/billing/crash.py", target, when, statement], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def night_statement(day: datetime.date) -> str:
    return f"import datetime; from billing.night import run_nightly; run_nightly(at=datetime.datetime.fromisoformat('{night_of(day).isoformat()}'), inline=True)"


def debtors(count: int, prefix: str = "debtor") -> list:
    """PRO clients whose renewal on RENEWAL_NIGHT leaves a $10 debt for the card to pay."""
    clients = []
    for n in range(count):
        client = verified(f"{prefix}{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with time_machine.travel(datetime.datetime(2027, 5, 1, 9, tzinfo=datetime.UTC), tick=False):
            services.activate_pro(client=client, period="monthly")  # $1 wallet + $9 card; 01.05–01.06
        clients.append(client)
    return clients


def books_balance(client) -> None:
    assert card_paid(client) == booked_from_cards(client)
    assert not PaymentAttempt.objects.filter(client=client, status="succeeded").exists()


def together(*works) -> list:
    """Each work in its own thread and connection, released at the same moment."""
    barrier = threading.Barrier(len(works))
    results: list = [None] * len(works)

    def run(index):
        try:
            barrier.wait()
            results[index] = works[index]()
        except Exception as exc:  # noqa: BLE001 (the test looks at each outcome)
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- 1. taken but not booked ------------------------------------------------------------------------------


def test_per7_a_night_killed_between_the_answers_and_their_booking_is_booked_by_the_next_night():
    clients = debtors(3)
    killed = child("billing.payments.book_many", "nonempty", night_statement(RENEWAL_NIGHT))
    output = killed.communicate(timeout=120)[0]
    assert killed.returncode == -signal.SIGKILL, output
    for client in clients:  # the cards paid tonight's $10; the wallets do not know it yet
        assert card_paid(client) == 100 + 900 + 1000 and balance(client) == -1000
        assert PaymentAttempt.objects.get(client=client, purpose_key=f"debt:{client.pk}:{RENEWAL_NIGHT}").status == "succeeded"
    # Not run again that night; the next night books them first and charges nobody again.
    run_nightly(at=night_of(RENEWAL_NIGHT + datetime.timedelta(days=1)), inline=True)
    for client in clients:
        client.refresh_from_db()
        assert card_paid(client) == 100 + 900 + 1000 and balance(client) == 0
        assert client.status == "active" and Subscription.objects.get(client=client).period_index == 2
        books_balance(client)


def test_per7_a_keyless_top_up_whose_worker_was_killed_after_the_charge_reaches_the_wallet():
    client = verified("killed-topup@example.com")
    services.attach_card(client=client, token="tok_visa")
    statement = f"from accounts.models import Client; from billing import services; services.top_up(client=Client.objects.get(pk={client.pk}), amount_cents=1500)"
    killed = child("billing.payments.book", "always", statement)
    output = killed.communicate(timeout=60)[0]
    assert killed.returncode == -signal.SIGKILL, output
    assert card_paid(client) == 1600 and balance(client) == 100
    # The client never got an answer and tries again, keyless: the same top-up, booked, not charged again.
    retried = api_as(client).post("/api/v1/billing/topup/", {"amount_cents": 1500})
    assert retried.status_code == 200 and retried.json()["balance_cents"] == 1600
    assert card_paid(client) == 1600
    books_balance(client)


def test_per7_the_beat_books_a_killed_top_up_without_anyone_asking():
    client = verified("killed-topup2@example.com")
    services.attach_card(client=client, token="tok_visa")
    statement = f"from accounts.models import Client; from billing import services; services.top_up(client=Client.objects.get(pk={client.pk}), amount_cents=1500)"
    assert child("billing.payments.book", "always", statement).wait(timeout=60) == -signal.SIGKILL
    from billing.tasks import reconcile_payments

    assert reconcile_payments.delay().get() == 1
    assert balance(client) == 1600
    books_balance(client)


# --- 2. reconciliation racing a night chunk that is still calling the gateway -------------------------------


def test_per7_reconciliation_never_decides_what_a_slow_night_chunk_is_still_sending():
    clients = debtors(4, prefix="slow")
    night = child("billing.payments.send_many", "never", night_statement(RENEWAL_NIGHT),
                  PAYMENT_GATEWAY=path(SlowGateway), SLOW_GATEWAY_SECONDS="0.5", BILLING_COLLECTION_CONCURRENCY="1")
    rounds = 0
    while night.poll() is None:  # the job, past its age threshold, as at real latency with 500 a chunk
        payments.reconcile(older_than=datetime.timedelta(0))
        rounds += 1
        time.sleep(0.05)
    assert night.returncode == 0, night.stdout.read()
    assert rounds > 5
    for client in clients:
        client.refresh_from_db()
        assert client.status == "active" and balance(client) == 0
        assert card_paid(client) == 100 + 900 + 1000
        assert PaymentAttempt.objects.get(client=client, purpose_key=f"debt:{client.pk}:{RENEWAL_NIGHT}").status == "booked"
        books_balance(client)


# --- 3. one collection of one debt at a time per client ----------------------------------------------------


def in_debt(email: str, cents: int):
    client = verified(email)
    services.attach_card(client=client, token="tok_visa")
    ledger.post(ledger.wallet_of(client), amount=-cents, kind="fee", description="Unpaid fee", reference="t", key=f"debt-{email}")
    return client


@pytest.mark.parametrize("round_", range(3))
def test_card4_a_main_and_a_backup_card_saved_at_once_pay_the_debt_once(round_):
    client = in_debt(f"both-cards{round_}@example.com", 1500)
    results = together(
        lambda: services.attach_card(client=client, token="tok_mastercard", role="main"),
        lambda: services.attach_card(client=client, token="tok_visa", role="backup"),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    [debt_payment] = PaymentAttempt.objects.filter(client=client, purpose_key__startswith=f"debt:{client.pk}:", status="booked")
    # The debt, less the verifications booked before it was collected, paid once; the other card's
    # $1 (if it came after) stays in the wallet.
    assert card_paid(client) == 300 + debt_payment.amount_cents
    assert balance(client) == 300 - 1500 + debt_payment.amount_cents and balance(client) in (0, 100)
    books_balance(client)


def test_dun4_a_double_click_on_save_card_pays_the_debt_once():
    client = in_debt("double-click@example.com", 1500)
    results = together(*[lambda: services.attach_card(client=client, token="tok_mastercard") for _ in range(4)])
    assert not [r for r in results if isinstance(r, Exception) and getattr(r, "code", "") != "payment_pending"], results
    [debt_payment] = PaymentAttempt.objects.filter(client=client, purpose_key__startswith=f"debt:{client.pk}:", status="booked")
    assert card_paid(client) == 200 + debt_payment.amount_cents and balance(client) == 0  # one verification of the new card
    books_balance(client)


def test_dun1_a_card_saved_while_the_night_collects_is_not_charged_for_the_same_debt():
    clients = debtors(3, prefix="collecting")
    saver = clients[-1]  # the chunk's last: its collection comes after two slow calls
    night = child("billing.payments.send_many", "never", night_statement(RENEWAL_NIGHT),
                  PAYMENT_GATEWAY=path(SlowGateway), SLOW_GATEWAY_SECONDS="0.5", BILLING_COLLECTION_CONCURRENCY="1")
    deadline = time.monotonic() + 60
    while not PaymentAttempt.objects.filter(client=saver, purpose_key=f"debt:{saver.pk}:{RENEWAL_NIGHT}").exists():
        assert time.monotonic() < deadline and night.poll() is None, night.stdout.read() if night.poll() is not None else "timeout"
        time.sleep(0.02)
    services.attach_card(client=saver, token="tok_mastercard")  # waits for the night's collection, then finds nothing owed
    assert night.wait(timeout=60) == 0, night.stdout.read()
    debt_payments = PaymentAttempt.objects.filter(client=saver, purpose_key__startswith=f"debt:{saver.pk}:", status__in=["succeeded", "booked"])
    assert debt_payments.count() == 1
    assert card_paid(saver) == 100 + 900 + 1000 + 100 and balance(saver) == 100
    books_balance(saver)



class CountingGateway(SlowGateway):
    """Counts the calls in flight at once (in this process's threads)."""

    lock, now, most = threading.Lock(), 0, 0

    def charge(self, **kwargs):
        with CountingGateway.lock:
            CountingGateway.now += 1
            CountingGateway.most = max(CountingGateway.most, CountingGateway.now)
        try:
            return super().charge(**kwargs)
        finally:
            with CountingGateway.lock:
                CountingGateway.now -= 1


def test_dun1_a_nights_collections_run_side_by_side_within_the_bound_each_with_its_key(settings, monkeypatch):
    clients = debtors(6, prefix="parallel")
    settings.PAYMENT_GATEWAY = path(CountingGateway)
    settings.BILLING_COLLECTION_CONCURRENCY = 4
    monkeypatch.setenv("SLOW_GATEWAY_SECONDS", "0.3")
    CountingGateway.most = 0
    run_nightly(at=night_of(RENEWAL_NIGHT), inline=True)
    assert 1 < CountingGateway.most <= 4
    for client in clients:
        client.refresh_from_db()
        assert client.status == "active" and balance(client) == 0 and card_paid(client) == 100 + 900 + 1000
        books_balance(client)
    keys = PaymentAttempt.objects.filter(purpose_key__startswith="debt:").values_list("idempotency_key", flat=True)
    assert len(set(keys)) == len(clients) == len(keys)


def test_wal5_keyless_top_ups_sent_while_the_first_is_unanswered_are_one_top_up(settings, monkeypatch):
    client = verified("keyless-race@example.com")
    services.attach_card(client=client, token="tok_visa")
    settings.PAYMENT_GATEWAY = path(SlowGateway)  # the first one's call still out when the others come
    monkeypatch.setenv("SLOW_GATEWAY_SECONDS", "0.5")
    results = together(*[lambda: services.top_up(client=client, amount_cents=1500) for _ in range(4)])
    assert all(isinstance(r, services.TopUp) for r in results), results
    assert len({r.idempotency_key for r in results}) == 1  # a double click, answered once
    assert card_paid(client) == 100 + 1500 and balance(client) == 1600
    books_balance(client)
