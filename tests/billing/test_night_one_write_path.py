"""One write path: a chunk of clients and the same clients one at a time (the list of one a
request would pass) write the same rows, both dated at the night's instant (issue 12; `run_nightly
--at` an old night dates everything on that night; PER-3, PER-6, WAL-1, WAL-6)."""

import datetime
import re

import pytest
import time_machine
from django.core.management import call_command

from billing import services
from billing.models import Invoice, LedgerEntry, Subscription, Wallet
from billing.night import run as night_run
from compliance.models import AuditLog
from core.clock import night_of
from projects.models import Project
from tests.billing.conftest import verified
from tests.billing.nights import failing_pro

pytestmark = pytest.mark.django_db
D = datetime.date
NIGHT = D(2027, 6, 2)


def pro_clients(prefix: str, count: int = 3) -> list:
    """PRO monthly from 01.05.2027 (renewed the night of 02.06), one in two with money in its wallet,
    the others with an empty one (the renewal leaves a debt for the cards)."""
    clients = []
    for n in range(count):
        client = verified(f"{prefix}{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with time_machine.travel(datetime.datetime(2027, 5, 1, 9, tzinfo=datetime.UTC), tick=False):
            if n % 2:
                services.top_up(client=client, amount_cents=5000)
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    return clients


def rows_of(client) -> dict:
    """What a client sees of tonight, its own ids left out (they differ from one client to another)."""
    def own(reference: str) -> str:
        return ":".join("ID" if part.isdigit() else part for part in reference.split(":"))

    return {
        "ledger": sorted((k, a, d, own(r)) for k, a, d, r in LedgerEntry.objects.filter(wallet__client=client).values_list("kind", "amount_cents", "description", "reference")),
        "invoices": sorted((k, s, t, own(r), line) for k, s, t, r, line in
                           Invoice.objects.filter(client=client).values_list("kind", "status", "total_cents", "reference", "lines__description")),
        "subscription": Subscription.objects.filter(client=client).values("period_index", "period_start", "period_end", "packages", "package_price_cents").get(),
        "status": type(client).objects.get(pk=client.pk).status,
        "audit": sorted(AuditLog.objects.filter(client=client).values_list("action", "target_type")),
    }


def split_chunks(monkeypatch, alone: set[int]) -> dict[str, list[int]]:
    """The night's steps get the other clients as one chunk and each of `alone` as a chunk of its
    own; returns the sizes of the chunks each step was given."""
    original, sizes = night_run.process, {}

    def process(step, client_ids, night):
        chunks = [[c for c in client_ids if c not in alone]] + [[c] for c in client_ids if c in alone]
        outcomes = [original(step, chunk, night) for chunk in chunks if chunk]
        sizes[step] = [len(chunk) for chunk in chunks if chunk]
        return {key: sum(o[key] for o in outcomes) if key != "failures" else [f for o in outcomes for f in o[key]] for key in outcomes[0]}

    monkeypatch.setattr(night_run, "process", process)
    return sizes


def test_per3_a_chunk_and_the_same_clients_one_at_a_time_write_the_same_rows(db, monkeypatch):
    bulk = pro_clients("bulk")
    single = pro_clients("single")
    chunked_by_step = split_chunks(monkeypatch, {c.pk for c in single})
    with time_machine.travel(night_of(NIGHT), tick=False):
        night_run.run_nightly(at=night_of(NIGHT), inline=True)
    assert chunked_by_step["renewals"] == [len(bulk), 1, 1, 1]
    for a, b in zip(bulk, single, strict=True):
        seen_a, seen_b = rows_of(a), rows_of(b)
        assert seen_a == seen_b
        assert seen_a["subscription"]["period_index"] == 2


def test_per3_an_old_night_run_again_later_dates_everything_on_that_night(db):
    clients = pro_clients("late")
    at = night_of(NIGHT)
    with time_machine.travel(datetime.datetime(2027, 6, 20, 12, tzinfo=datetime.UTC), tick=False):  # eighteen days late
        call_command("run_nightly", at=at.isoformat(), inline=True)
    renewals = Invoice.objects.filter(client__in=clients, reference__startswith="renewal:")
    assert renewals.count() == len(clients)
    assert {i.issued_at for i in renewals} == {at} and {i.due_at for i in renewals} == {at + datetime.timedelta(days=7)}
    fees = LedgerEntry.objects.filter(wallet__client__in=clients, reference__startswith="renewal:")
    assert {e.created_at for e in fees} == {at}
    assert all(i.number.startswith("INV-2027-") for i in renewals)  # the year of that night, numbered in the chunk


def test_per6_packages_for_a_chunk_and_one_at_a_time_write_the_same_rows(db, monkeypatch):
    from django.utils import timezone

    from projects.models import Subscriber
    from tests.billing.nights import subscribers
    from tests.factories import make_project

    def with_subscribers(prefix: str, grow: int, shrink: bool) -> list:
        clients = []
        for n in range(2):
            client = verified(f"{prefix}{n}@example.com")
            services.attach_card(client=client, token="tok_visa")
            project = make_project(owner=client)
            subscribers(project, 2100 if shrink else 900)
            with time_machine.travel(datetime.datetime(2027, 3, 1, 9, tzinfo=datetime.UTC), tick=False):
                services.top_up(client=client, amount_cents=20_000)
                services.activate_pro(client=client, period="monthly")
            if shrink:  # 2,100 → 900: two packages less
                leaving = list(Subscriber.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True)[:1200])
                Subscriber.objects.filter(pk__in=leaving).update(status="unsubscribed", unsubscribed_at=timezone.now())
            else:
                subscribers(project, grow, start=900)
            clients.append(client)
        return clients

    bulk = with_subscribers("pbulk", 1200, False) + with_subscribers("pbulkdown", 0, True)
    single = with_subscribers("psingle", 1200, False) + with_subscribers("psingledown", 0, True)
    chunked_by_step = split_chunks(monkeypatch, {c.pk for c in single})
    day = D(2027, 3, 10)
    with time_machine.travel(night_of(day), tick=False):
        night_run.run_nightly(at=night_of(day), inline=True)
    assert chunked_by_step["packages"] == [len(bulk), 1, 1, 1, 1]
    kinds = set()
    for a, b in zip(bulk, single, strict=True):
        seen_a, seen_b = rows_of(a), rows_of(b)
        assert seen_a == seen_b
        kinds |= {kind for kind, *_ in seen_a["ledger"]}
    assert {"package_change", "unused_credit"} <= kinds  # both ways: packages added and removed


def test_per3_dun1_the_run_renews_and_collects_exactly_the_clients_the_dry_run_plans(db):
    from billing.night.plan import Night, dunning_clients, plan_dunning, plan_renewals, renewing_clients

    clients = pro_clients("planned")
    for night_day, expected in ((D(2027, 6, 1), []), (NIGHT, sorted(c.pk for c in clients))):
        night = Night(day=night_day, at=night_of(night_day))
        assert renewing_clients(night) == sorted({d.client_id for d in plan_renewals(night)}) == expected
    from billing import ledger

    owing = sorted(c.pk for c in clients[::2])  # the ones without a top-up
    for client in clients[::2]:  # DUN-1: a debt the cards are to pay
        ledger.post(ledger.wallet_of(client), amount=-700, kind="fee", description="Unpaid fee", reference="t", key=f"owing-{client.pk}")
    night = Night(day=NIGHT, at=night_of(NIGHT))
    assert dunning_clients(night) == sorted({d.client_id for d in plan_dunning(night)}) == owing


def test_dun2_to_dun5_failed_collections_for_a_chunk_and_one_at_a_time_take_the_same_states(db, monkeypatch, mailoutbox,
                                                                                           django_capture_on_commit_callbacks):
    """The first failed collection suspends (DUN-2), the second blocks (DUN-3), thirty days unpaid
    end PRO (DUN-5): the same rows, states, history and emails whether a client's outcome was
    written with a chunk's or alone."""
    from accounts.models import AccountStateChange

    bulk = [failing_pro(f"fbulk{n}@example.com") for n in range(3)]
    single = [failing_pro(f"fsingle{n}@example.com") for n in range(3)]
    chunked_by_step = split_chunks(monkeypatch, {c.pk for c in single})
    states = []
    for day in (D(2027, 7, 2), D(2027, 7, 3), D(2027, 8, 1)):
        with time_machine.travel(night_of(day), tick=False), django_capture_on_commit_callbacks(execute=True):
            run = night_run.run_nightly(at=night_of(day), inline=True)
        assert run.status == "done" and chunked_by_step["dunning"] == [len(bulk), 1, 1, 1]
        states.append({type(c).objects.get(pk=c.pk).status for c in bulk + single})
    assert states == [{"suspended"}, {"blocked"}, {"blocked"}]

    def seen(client) -> dict:
        wallet = Wallet.objects.get(client=client)
        return rows_of(client) | {
            "wallet": (wallet.failed_collections, wallet.debt_since, wallet.deletion_scheduled_for),
            "projects": sorted(Project.objects.filter(owner=client).values_list("status", flat=True)),
            "history": list(AccountStateChange.objects.filter(client=client).order_by("id").values_list("from_status", "to_status", "reason", "note")),
            "emails": [re.sub(r"INV-\d+-\d+", "INV-…", m.subject) for m in mailoutbox if m.to == [client.email]],  # numbered in order of writing
        }

    for a, b in zip(bulk, single, strict=True):
        seen_a, seen_b = seen(a), seen(b)
        assert seen_a == seen_b
        assert seen_a["wallet"] == (3, D(2027, 7, 2), D(2027, 8, 31)) and seen_a["projects"] == ["archived"]
        assert [h[:3] for h in seen_a["history"]] == [("active", "suspended", ""), ("suspended", "blocked", "billing")]
        assert len(seen_a["emails"]) == 4 and "PRO renewed" in seen_a["emails"][0] and "PRO has ended" in seen_a["emails"][-1]
