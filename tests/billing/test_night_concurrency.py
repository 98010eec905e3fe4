"""A night in one process applies its chunks NIGHT_INLINE_CONCURRENCY at a time, each on its own
database connection (issue 12: the worst night within 10× of its floor): what it writes is what
one chunk after another writes, every renewal once, the invoices numbered without a gap (WAL-6),
the debts collected once (DUN-1). On PostgreSQL only, with committed rows (the chunks' connections
cannot see a test's transaction); CI runs them. Inside a transaction, and on SQLite, the chunks
run one after another on the night's own connection."""

import threading

import pytest
import time_machine

from billing.models import ClientNight, Invoice, LedgerEntry, NightlyRun, NightlyStep, PaymentAttempt, Subscription
from billing.night import run as night_module
from core.clock import night_of
from tests.billing.conftest import balance
from tests.billing.nights import D, due_clients, failing_pro, run_night
from tests.billing.test_night_processes import NIGHT
from tests.conftest import require_service


def record_threads(monkeypatch) -> list[tuple[str, str, tuple[int, ...]]]:
    """(thread, step, clients) of every chunk the night applies."""
    seen, real = [], night_module.process

    def process(step, client_ids, night):
        seen.append((threading.current_thread().name, step, tuple(client_ids)))
        return real(step, client_ids, night)

    monkeypatch.setattr(night_module, "process", process)
    return seen


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_issue12_inline_night_applies_chunks_on_two_connections_and_writes_each_renewal_once(monkeypatch, settings):
    from django.db import connection

    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    clients = due_clients(7)
    settings.NIGHT_INLINE_CONCURRENCY = 2
    monkeypatch.setattr(night_module, "CHUNK", 2)  # four renewal chunks
    seen = record_threads(monkeypatch)

    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_module.run_nightly(at=night_of(NIGHT), inline=True)

    assert run.status == "done", run.error
    renewal_threads = {thread for thread, step, _ in seen if step == "renewals"}
    assert len(renewal_threads) == 2 and all(t.startswith("night-renewals-") for t in renewal_threads)
    assert sorted(c for _, step, chunk in seen if step == "renewals" for c in chunk) == sorted(c.pk for c in clients)
    step = NightlyStep.objects.get(run=run, name="renewals")
    assert (step.clients, step.skipped, step.failures, step.charged_cents) == (7, 0, [], 7 * 1000)
    for client in clients:
        assert Invoice.objects.filter(client=client, reference__startswith="renewal:").count() == 1
        assert Subscription.objects.get(client=client).period_index == 2
        assert balance(client) == 100 + 5000 - 1000 - 1000
    # WAL-6: the chunks took their numbers one after another, none lost, none twice.
    sequences = sorted(Invoice.objects.filter(series="INV", year=NIGHT.year).values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) == 7 + 7  # activations, renewals
    assert ClientNight.objects.filter(night=NIGHT, step="renewals").count() == 7

    # A second run of the same night finds nothing left to renew.
    with time_machine.travel(night_of(NIGHT), tick=False):
        again = night_module.run_nightly(at=night_of(NIGHT), inline=True)
    assert NightlyStep.objects.get(run=again, name="renewals").clients == 0
    assert Invoice.objects.filter(reference__startswith="renewal:").count() == 7


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_issue12_concurrent_dunning_chunks_collect_each_debt_once(monkeypatch, settings):
    from django.db import connection

    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    failing = [failing_pro(f"failing{n}@example.com") for n in range(3)]  # renewed on 02.07 from an empty wallet
    settings.NIGHT_INLINE_CONCURRENCY = 2
    monkeypatch.setattr(night_module, "STEP_CHUNK", {"dunning": 1})
    seen = record_threads(monkeypatch)

    run = run_night(D(2027, 7, 2), inline=True)

    assert run.status == "done", run.error
    assert len({thread for thread, step, _ in seen if step == "dunning"}) == 2
    dunning = NightlyStep.objects.get(run=run, name="dunning")
    assert (dunning.clients, dunning.failures) == (3, [])
    for client in failing:
        # DUN-1/DUN-2: one renewal debited, one collection tried (the card fails), suspended.
        client.refresh_from_db()
        assert PaymentAttempt.objects.filter(client=client, kind="charge").count() == 1
        assert (client.status, balance(client)) == ("suspended", -1000)
        assert LedgerEntry.objects.filter(wallet__client=client, reference__startswith="renewal:").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_issue12_a_chunk_that_raises_on_its_thread_is_recorded_and_the_others_are_done(monkeypatch, settings):
    from django.db import connection

    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    clients = due_clients(4)
    settings.NIGHT_INLINE_CONCURRENCY = 2
    monkeypatch.setattr(night_module, "CHUNK", 1)
    real = night_module.process
    broken = clients[1].pk

    def process(step, client_ids, night):
        if step == "renewals" and client_ids == [broken]:
            raise RuntimeError("this chunk's database went away")
        return real(step, client_ids, night)

    monkeypatch.setattr(night_module, "process", process)
    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_module.run_nightly(at=night_of(NIGHT), inline=True)

    step = NightlyStep.objects.get(run=run, name="renewals")
    assert step.clients == 3
    assert [(f["clients"], f["error"]) for f in step.failures] == [([broken], "RuntimeError: this chunk's database went away")]
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2, 1, 2, 2]


@pytest.mark.django_db
def test_issue12_inside_a_transaction_the_chunks_run_one_after_another_on_the_nights_connection(monkeypatch, settings):
    """A test's transaction (and SQLite): other connections would not see its rows."""
    clients = due_clients(3)
    settings.NIGHT_INLINE_CONCURRENCY = 4
    monkeypatch.setattr(night_module, "CHUNK", 1)
    seen = record_threads(monkeypatch)

    with time_machine.travel(night_of(NIGHT), tick=False):
        run = night_module.run_nightly(at=night_of(NIGHT), inline=True)

    assert NightlyStep.objects.get(run=run, name="renewals").clients == 3
    assert {thread for thread, step, _ in seen if step == "renewals"} == {threading.current_thread().name}
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2, 2, 2]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_issue12_a_night_stopped_on_one_thread_stops_taking_chunks_and_the_next_run_does_the_rest(monkeypatch, settings):
    """A chunk's thread stopped (SystemExit, as a worker's shutdown): the night's record says
    failed, no chunk is left half-written, and the next run renews the clients left."""
    from django.db import connection

    require_service("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")
    clients = due_clients(6)
    settings.NIGHT_INLINE_CONCURRENCY = 2
    monkeypatch.setattr(night_module, "CHUNK", 1)
    real, first = night_module.process, clients[0].pk

    def process(step, client_ids, night):
        if step == "renewals" and client_ids == [first]:
            raise SystemExit("worker shutting down")
        return real(step, client_ids, night)

    monkeypatch.setattr(night_module, "process", process)
    with time_machine.travel(night_of(NIGHT), tick=False), pytest.raises(SystemExit):
        night_module.run_nightly(at=night_of(NIGHT), inline=True)

    stopped = NightlyRun.objects.get(night=NIGHT)
    assert stopped.status == "failed" and "SystemExit" in stopped.error
    renewed = [c for c in clients if Subscription.objects.get(client=c).period_index == 2]
    assert clients[0] not in renewed and len(renewed) < 5  # the chunks not started were left
    for client in renewed:  # each chunk whole: its invoice, its entry and its mark together
        assert Invoice.objects.filter(client=client, reference__startswith="renewal:").count() == 1
        assert ClientNight.objects.filter(night=NIGHT, step="renewals", client_id=client.pk).exists()

    monkeypatch.setattr(night_module, "process", real)
    with time_machine.travel(night_of(NIGHT), tick=False):
        again = night_module.run_nightly(at=night_of(NIGHT), inline=True)
    assert again.status == "done"
    assert [Subscription.objects.get(client=c).period_index for c in clients] == [2] * 6
    assert Invoice.objects.filter(reference__startswith="renewal:").count() == 6
