"""The daily snapshot and MRR movements (issue 16; CMP-5 staff figures; MRR by TAR-3, TAR-4,
PER-1): months computed by hand, and the night writing one row per day."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Client
from billing import services, snapshots
from billing.models import ClientMonthMrr, DailySnapshot, NightlyStep, Subscription
from tests.billing.nights import D, failing_pro, run_night, travel
from tests.factories import make_client

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2027, 1, 15, 1, tzinfo=datetime.UTC)


def pro(email: str, *, packages: int = 1, period: str = "monthly", price: int = 1000) -> Client:
    """A client with an active PRO subscription as billing keeps it (the figures read only that)."""
    client = make_client(email=email)
    Subscription.objects.create(client=client, period=period, packages=packages, package_price_cents=price,
                                anchor_date=D(2027, 1, 1), period_start=D(2027, 1, 1), period_end=D(2028, 1, 1))
    return client


def change(client: Client, **fields) -> None:
    Subscription.objects.filter(client=client).update(**fields)


def snap(day: datetime.date) -> DailySnapshot:
    return snapshots.write_snapshot(day=day, at=timezone.now(), run=None)


def movements(snapshot: DailySnapshot) -> dict[str, int]:
    return {name: getattr(snapshot, f"{name}_mrr_cents") for name in snapshots.MOVEMENTS}


def test_tar4_per1_mrr_is_packages_times_price_over_the_months_of_the_period():
    """A yearly client counts as a twelfth a month, a quarterly as a third, rounded half up."""
    pro("monthly@example.com", packages=3, price=1000)  # 3,000
    pro("quarterly@example.com", packages=2, period="quarterly", price=2701)  # 5,402 ÷ 3 = 1,800.67 → 1,801
    pro("yearly@example.com", period="yearly", price=10000)  # 10,000 ÷ 12 = 833.33 → 833
    pro("yearly-even@example.com", period="yearly", price=9600)  # 800
    snapshot = snap(D(2027, 1, 15))
    assert snapshot.mrr_cents == 3000 + 1801 + 833 + 800
    assert snapshot.pro_subscriptions == 4
    by_client = dict(ClientMonthMrr.objects.filter(month=D(2027, 1, 1)).values_list("client__email", "mrr_cents"))
    assert by_client == {"monthly@example.com": 3000, "quarterly@example.com": 1801, "yearly@example.com": 833, "yearly-even@example.com": 800}


def test_cmp5_movements_new_expansion_contraction_churn_reactivation_by_hand():
    upgrader = pro("upgrader@example.com")  # 1,000
    downgrader = pro("downgrader@example.com", packages=2)  # 2,000
    leaver = pro("leaver@example.com")  # 1,000
    pro("yearly@example.com", period="yearly", price=9600)  # 800, all year
    january = snap(D(2027, 1, 15))
    assert january.mrr_cents == 4800
    assert movements(january) == {"new": 4800, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}

    change(upgrader, packages=2)  # +1,000
    change(downgrader, packages=1)  # −1,000, still paying
    change(leaver, status=Subscription.Status.DEACTIVATED)  # −1,000, to nothing
    pro("newcomer@example.com", packages=3)  # +3,000
    february = snap(D(2027, 2, 10))
    assert movements(february) == {"new": 3000, "expansion": 1000, "contraction": 1000, "churn": 1000, "reactivation": 0}
    assert february.mrr_cents == 2000 + 1000 + 0 + 800 + 3000 == january.mrr_cents + 3000 + 1000 - 1000 - 1000
    assert february.pro_subscriptions == 4

    change(leaver, status=Subscription.Status.ACTIVE)  # back after a month at 0: not new
    march = snap(D(2027, 3, 1))
    assert movements(march) == {"new": 0, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 1000}
    assert march.mrr_cents == february.mrr_cents + 1000

    # Month to date: a later night of the same month compares with the last month again.
    change(leaver, status=Subscription.Status.DEACTIVATED)
    later = snap(D(2027, 3, 20))
    assert movements(later) == {"new": 0, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}
    assert later.mrr_cents == february.mrr_cents

    by_month = snapshots.mrr_by_month(3)
    assert [row["month"] for row in by_month] == [D(2027, 1, 1), D(2027, 2, 1), D(2027, 3, 1)]
    assert [row["mrr_cents"] for row in by_month] == [4800, 6800, 6800]  # each month as its latest night has it
    assert by_month[1]["churn"] == 1000 and by_month[1]["new"] == 3000


def test_cmp5_an_unchanged_night_rewrites_no_client_row_and_keeps_one_snapshot_a_day():
    pro("a@example.com")
    snap(D(2027, 1, 15))
    rows = list(ClientMonthMrr.objects.values_list("pk", "client_id", "month", "mrr_cents"))
    again = snap(D(2027, 1, 15))
    assert list(ClientMonthMrr.objects.values_list("pk", "client_id", "month", "mrr_cents")) == rows
    assert DailySnapshot.objects.count() == 1 and again.mrr_cents == 1000


def test_cmp5_the_snapshot_counts_clients_by_tariff_and_state_leaving_staff_out():
    make_client(email="free@example.com")
    blocked = make_client(email="blocked@example.com")
    Client.objects.filter(pk=blocked.pk).update(status=Client.Status.BLOCKED, block_reason=Client.BlockReason.STAFF)
    paying = pro("pro@example.com")
    Client.objects.filter(pk=paying.pk).update(tariff=Client.Tariff.PRO)
    Client.objects.create_superuser(email="staff@example.com", password="staff-pass-12345", name="Staff")
    snapshot = snap(D(2027, 1, 15))
    assert snapshot.clients_by_tariff == {"free": 2, "pro": 1}
    assert snapshot.clients_by_state == {"active": 2, "suspended": 0, "blocked": 1, "deleted": 0}


def test_cmp5_the_snapshot_takes_the_same_statements_for_10_and_for_2000_clients():
    """Set-based: the number of statements does not follow the number of clients."""
    def statements(count: int, start: int, day: datetime.date) -> int:
        now = timezone.now()
        clients = Client.objects.bulk_create([Client(email=f"c{n}@example.com", name="C") for n in range(start, start + count)])
        Subscription.objects.bulk_create([
            Subscription(client=c, period="monthly", packages=1 + n % 3, package_price_cents=1000, anchor_date=D(2027, 1, 1),
                         period_start=D(2027, 1, 1), period_end=D(2027, 1, 31), activated_at=now) for n, c in enumerate(clients)])
        with CaptureQueriesContext(connection) as queries:
            snapshots.write_snapshot(day=day, at=now)
        return len(queries)

    few = statements(10, 0, D(2027, 1, 15))
    many = statements(2000, 10, D(2027, 1, 16))  # each a new day's row, as a night writes it
    assert few == many
    assert snapshots.latest_snapshot().pro_subscriptions == 2010


def test_cmp5_the_night_writes_one_snapshot_a_day_a_rerun_keeps_it_and_a_dry_run_writes_none(payer):
    with travel(D(2027, 9, 1)):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    run_night(D(2027, 10, 1), dry_run=True)
    assert not DailySnapshot.objects.exists()
    first = run_night(D(2027, 10, 2))  # renews the period (PER-3)
    snapshot = DailySnapshot.objects.get()
    steps = NightlyStep.objects.filter(run=first)
    assert snapshot.day == D(2027, 10, 2) and snapshot.run == first
    assert snapshot.charged_cents == sum(s.charged_cents for s in steps) > 0
    assert snapshot.mrr_cents == 1000 and snapshot.clients_by_tariff["pro"] == 1
    second = run_night(D(2027, 10, 2))
    assert DailySnapshot.objects.count() == 1
    snapshot.refresh_from_db()
    assert snapshot.run == second and snapshot.charged_cents == sum(s.charged_cents for s in steps)  # the rerun charged nothing more
    run_night(D(2027, 10, 2), dry_run=True)
    run_night(D(2027, 10, 3))
    assert list(DailySnapshot.objects.order_by("day").values_list("day", flat=True)) == [D(2027, 10, 2), D(2027, 10, 3)]


def test_dun1_the_snapshot_counts_a_collection_that_failed_that_night():
    failing_pro()
    run_night(D(2027, 7, 2))  # renewal debited, the card fails (DUN-1, DUN-2)
    assert DailySnapshot.objects.get(day=D(2027, 7, 2)).failed_collections == 1


def test_cmp5_a_day_without_snapshot_reads_as_none():
    assert snapshots.latest_snapshot() is None
    assert snapshots.mrr_by_month(3) == []
    assert list(snapshots.snapshots_since(D(2027, 1, 1))) == []


def test_tar1_the_snapshots_active_subscribers_are_the_nights_own_count(payer):
    """TAR-1: the snapshot takes the night's count (a million subscribers are counted once a
    night): active subscribers of live projects; an archived project's count for nothing."""
    from projects.models import Project
    from tests.factories import make_project, make_subscriber

    shop, old = make_project(owner=payer, name="Shop"), make_project(owner=payer, name="Old")
    for n in range(3):
        make_subscriber(project=shop, email=f"reader{n}@example.org")
    make_subscriber(project=old, email="gone@example.org")
    Project.objects.filter(pk=old.pk).update(status=Project.Status.ARCHIVED, archived_at=timezone.now())
    run_night(D(2027, 10, 2))
    assert DailySnapshot.objects.get(day=D(2027, 10, 2)).active_subscribers == 3
