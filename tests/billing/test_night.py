"""The night over months (time-machine): renewals (PER-3), packages (PER-6), the Free limit
(TAR-5), dunning (DUN-1..5, CARD-4), the dry run (WAL-7), and running it twice, late or half."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Client
from billing import invoicing, services
from billing import night as night_module
from billing.models import Invoice, LedgerEntry, NightlyRun, PaymentAttempt, Subscription, Wallet
from core.clock import night_of
from projects.models import Project, Subscriber
from tests.billing.conftest import balance, verified
from tests.factories import api_as, make_client, make_project

pytestmark = pytest.mark.django_db
D = datetime.date


def travel(day: D, hour: int = 9):
    return time_machine.travel(datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.UTC), tick=False)


def run_night(day: D, **kwargs) -> NightlyRun:
    with time_machine.travel(night_of(day), tick=False):
        return night_module.run_nightly(at=night_of(day), **kwargs)


def run_nights(first: D, last: D) -> None:
    day = first
    while day <= last:
        run_night(day)
        day += datetime.timedelta(days=1)


def subscribers(project, count: int, start: int = 0) -> None:
    now = timezone.now()
    Subscriber.objects.bulk_create([
        Subscriber(project=project, email=f"n{project.pk}-{n}@example.org", source="import", consent_at=now, consent_source="t", subscribed_at=now)
        for n in range(start, start + count)
    ])


def renewals(client) -> list[str]:
    return list(Invoice.objects.filter(client=client, reference__startswith="renewal:").order_by("sequence").values_list("lines__description", flat=True))


def test_per3_renewals_on_anniversaries_across_month_ends_and_a_leap_year(payer):
    with travel(D(2028, 1, 31)):
        services.top_up(client=payer, amount_cents=10_000)
        services.activate_pro(client=payer, period="monthly")
    run_nights(D(2028, 2, 1), D(2028, 5, 2))
    subscription = Subscription.objects.get(client=payer)
    assert (subscription.period_start, subscription.period_end) == (D(2028, 5, 1), D(2028, 5, 31))
    assert [line.split(":")[0] for line in renewals(payer)] == [
        "PRO monthly 01.03.2028–31.03.2028", "PRO monthly 01.04.2028–30.04.2028", "PRO monthly 01.05.2028–31.05.2028",
    ]
    # 31.01–29.02 was paid at activation; each renewal came on the night after a period's last day.
    renewed_on = [e.created_at.date() for e in LedgerEntry.objects.filter(kind="fee", reference__startswith="renewal:").order_by("created_at")]
    assert renewed_on == [D(2028, 2, 29), D(2028, 3, 31), D(2028, 4, 30)]  # 01:00 UTC+2 is 23:00 UTC the day before
    assert balance(payer) == 100 + 10_000 - 4 * 1000


def test_per3_quarterly_from_04_04_is_renewed_by_the_night_of_05_07(payer):
    with travel(D(2027, 4, 4)):
        services.activate_pro(client=payer, period="quarterly")
    run_night(D(2027, 7, 4))
    assert Subscription.objects.get().period_index == 1
    run_night(D(2027, 7, 5))
    subscription = Subscription.objects.get()
    assert (subscription.period_index, subscription.period_start, subscription.period_end) == (2, D(2027, 7, 5), D(2027, 10, 4))


def test_per6_packages_follow_the_count_with_pro_rata_charges_and_credits(payer):
    project = make_project(owner=payer)
    subscribers(project, 900)
    with travel(D(2027, 3, 1)):
        services.top_up(client=payer, amount_cents=20_000)
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04, 32 days
    subscribers(project, 200, start=900)  # 1,100 → 2 packages
    run_night(D(2027, 3, 10))
    added = LedgerEntry.objects.get(kind="package_change")
    assert added.amount_cents == -services.prorate_formula(packages=1, price_cents=1000, days=23, period_days=32)[0] == -719
    assert "1 package × $10.00 × 23/32 days = $7.19" in added.description
    subscribers(project, 1000, start=1100)  # 2,100 → 3 packages
    run_night(D(2027, 3, 20))
    assert Subscription.objects.get().packages == 3
    Subscriber.objects.filter(project=project).exclude(pk__in=Subscriber.objects.filter(project=project).order_by("pk")[:900]).update(
        status="unsubscribed", unsubscribed_at=timezone.now()
    )
    run_night(D(2027, 3, 25))  # back to 900 → 1 package, 2 packages × 8/32 credited
    credit = LedgerEntry.objects.filter(kind="unused_credit").latest("created_at")
    assert credit.amount_cents == 500 and "2 packages × $10.00 × 8/32 days = $5.00" in credit.description
    assert Subscription.objects.get().packages == 1
    run_night(D(2027, 3, 26))
    assert LedgerEntry.objects.filter(kind__in=["package_change", "unused_credit"]).count() == 3  # nothing more


def test_tar5_a_free_client_at_501_is_blocked_at_the_count_and_unblocked_on_activation(payer):
    first, second = make_project(owner=payer, name="A"), make_project(owner=payer, name="B")
    subscribers(first, 250)
    subscribers(second, 250)
    run_night(D(2027, 5, 1))
    payer.refresh_from_db()
    assert payer.status == "active"
    subscribers(second, 1, start=250)
    run_night(D(2027, 5, 2))
    payer.refresh_from_db()
    assert (payer.status, payer.block_reason) == ("blocked", "free_limit")
    assert api_as(payer).post("/api/v1/billing/activate/", {"period": "monthly"}).status_code == 200
    payer.refresh_from_db()
    assert payer.status == "active" and Subscription.objects.get().packages == 1


def failing_pro(email: str = "failing@example.com") -> Client:
    """PRO, paid from the wallet, with a card that verifies and then fails every charge."""
    client = verified(email)
    services.attach_card(client=client, token="tok_chargeCustomerFail")
    services.staff_credit(client=client, amount_cents=900, reason="first month", actor=make_client(email=f"staff-{email}"))
    with travel(D(2027, 6, 1)):
        services.activate_pro(client=client, period="monthly")  # 01.06–01.07, renewed the night of 02.07
    make_project(owner=client)
    return client


def test_dun1_to_dun4_the_whole_dunning_path_and_recovery_with_a_new_card(db, django_capture_on_commit_callbacks):
    """DUN-1 the night collects the debt; DUN-2 the first failure suspends; DUN-3 the second in a
    row blocks (`billing`) with billing still reachable; DUN-4 a new card pays and lifts both."""
    client = failing_pro()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))  # renewal: $10 debited, the card fails → first failed collection
    client.refresh_from_db()
    assert client.status == "suspended" and balance(client) == -1000
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"suspended"}
    assert "could not collect" in mail.outbox[-1].subject
    assert api_as(client).get("/api/v1/billing/").json()["debt_cents"] == 1000
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 3))  # the retry fails → blocked
    client.refresh_from_db()
    assert (client.status, client.block_reason) == ("blocked", "billing")
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"locked"}
    assert "blocked" in mail.outbox[-1].subject
    # Billing stays reachable: a new card pays the debt and lifts both at once.
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(client).put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200
    client.refresh_from_db()
    assert client.status == "active" and balance(client) >= 0
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"active"}
    assert Wallet.objects.get(client=client).failed_collections == 0
    assert "payment arrived" in mail.outbox[-1].subject


def test_dun4_a_top_up_that_pays_the_debt_lifts_the_suspension(db):
    client = failing_pro()
    run_night(D(2027, 7, 2))
    services.attach_card(client=client, token="tok_chargeCustomerFail", role="backup")  # still failing
    client.refresh_from_db()
    assert client.status == "suspended"
    services.attach_card(client=client, token="tok_mastercard", role="backup")
    client.refresh_from_db()
    assert client.status == "active" and balance(client) >= 0


def test_card4_the_backup_card_rescues_a_collection(db):
    client = failing_pro()
    services.attach_card(client=client, token="tok_visa", role="backup")
    run_night(D(2027, 7, 2))
    client.refresh_from_db()
    assert client.status == "active" and balance(client) == 0
    rescued = PaymentAttempt.objects.get(client=client, kind="charge", status="booked")
    assert rescued.card.role == "backup" and rescued.amount_cents == 900  # the $10 renewal less the backup's $1


def test_dun5_thirty_days_unpaid_ends_pro_deletes_the_card_and_schedules_deletion(db):
    client = failing_pro()
    run_nights(D(2027, 7, 2), D(2027, 7, 31))
    assert Subscription.objects.get(client=client).is_active
    run_night(D(2027, 8, 1))
    subscription = Subscription.objects.get(client=client)
    client.refresh_from_db()
    assert not subscription.is_active and client.tariff == "free"
    assert services.live_card(client) is None and not client.cards.exclude(token="").filter(removed_at__isnull=True).exists()
    assert Wallet.objects.get(client=client).deletion_scheduled_for == D(2027, 8, 1)


def test_night_twice_changes_nothing_and_a_late_run_bills_the_same_day(payer):
    with travel(D(2027, 9, 1)):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    with time_machine.travel(datetime.datetime(2027, 10, 2, 14, tzinfo=datetime.UTC), tick=False):  # 13 hours late
        call_command("run_nightly")
        entries = LedgerEntry.objects.count()
        call_command("run_nightly")
    assert LedgerEntry.objects.count() == entries
    assert NightlyRun.objects.filter(night=D(2027, 10, 2)).count() == 2
    assert Subscription.objects.get().period_start == D(2027, 10, 2)


def test_per3_after_missed_nights_each_missed_renewal_happens_once_on_its_anniversary(payer):
    with travel(D(2027, 1, 15)):
        services.top_up(client=payer, amount_cents=10_000)
        services.activate_pro(client=payer, period="monthly")
    run_night(D(2027, 4, 20))  # the machine was down from February to April
    assert [line.split(":")[0] for line in renewals(payer)] == [
        "PRO monthly 16.02.2027–15.03.2027", "PRO monthly 16.03.2027–15.04.2027", "PRO monthly 16.04.2027–15.05.2027",
    ]
    run_night(D(2027, 4, 20))
    run_night(D(2027, 4, 21))
    assert len(renewals(payer)) == 3


def test_dea3_a_scheduled_deactivation_ends_pro_at_its_night(payer, staff):
    services.change_policy(actor=staff, cancel_notice_business_days=5)
    with travel(D(2027, 3, 1)):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    with travel(D(2027, 3, 29)):
        services.deactivate_pro(client=payer, confirm=True)
    run_night(D(2027, 4, 2))
    assert Subscription.objects.get().is_active  # the next period was renewed
    run_night(D(2027, 5, 2))
    assert not Subscription.objects.get().is_active
    payer.refresh_from_db()
    assert payer.tariff == "free"


def test_wal7_the_dry_run_changes_nothing_and_predicts_what_the_real_run_does(payer):
    project = make_project(owner=payer)
    with travel(D(2027, 3, 1)):
        services.top_up(client=payer, amount_cents=500)
        services.activate_pro(client=payer, period="monthly")
    subscribers(project, 1500)
    free = make_client(email="free@example.com")
    subscribers(make_project(owner=free), 600)
    other = verified("renewing@example.com")
    services.attach_card(client=other, token="tok_visa")
    with travel(D(2027, 2, 1)):
        services.activate_pro(client=other, period="monthly")  # due for renewal on the night of 02.03
    before = (LedgerEntry.objects.count(), Invoice.objects.count(), PaymentAttempt.objects.count(), Client.objects.filter(status="blocked").count())
    with time_machine.travel(night_of(D(2027, 3, 2)) - datetime.timedelta(hours=3), tick=False):
        upcoming = api_as(payer).get("/api/v1/billing/upcoming/").json()
    dry = run_night(D(2027, 3, 2), dry_run=True)
    assert (LedgerEntry.objects.count(), Invoice.objects.count(), PaymentAttempt.objects.count(), Client.objects.filter(status="blocked").count()) == before
    predicted = dry.report["totals"]
    assert predicted["free_limit_blocks"] == [free.pk]
    tonight = next(d for d in dry.report["packages"] if d["client_id"] == payer.pk)
    assert tonight["amount_cents"] == upcoming["tonight"]["amount_cents"]  # one computation for both
    real = run_night(D(2027, 3, 2))
    steps = {s.name: s for s in real.steps.all()}
    assert steps["packages"].charged_cents + steps["renewals"].charged_cents == predicted["charged_cents"]
    assert steps["packages"].credited_cents == predicted["credited_cents"]
    assert steps["dunning"].charged_cents == predicted["collect_cents"]
    assert sorted(Client.objects.filter(block_reason="free_limit").values_list("pk", flat=True)) == predicted["free_limit_blocks"]


def test_a_failure_for_one_client_is_recorded_and_the_next_run_completes_it(payer, monkeypatch, caplog):
    second = verified("second@example.com")
    services.attach_card(client=second, token="tok_visa")
    for client in (payer, second):
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
    original = night_module.apply_renewals

    def broken(client_id, night):
        if client_id == payer.pk:
            raise RuntimeError("injected")
        return original(client_id, night)

    original_chunk = night_module.renew_chunk

    def chunk_fails_with_payer(client_ids, night):
        if payer.pk in client_ids:
            raise RuntimeError("injected")  # the set-based path fails: the chunk goes one by one
        return original_chunk(client_ids, night)

    monkeypatch.setitem(night_module.APPLY, "renewals", broken)
    monkeypatch.setattr(night_module, "renew_chunk", chunk_fails_with_payer)
    run = run_night(D(2027, 6, 2))
    step = run.steps.get(name="renewals")
    # Both on the night's record: the set-based chunk that failed (then done one by one), and the client.
    assert step.clients == 1 and [f["client"] for f in step.failures] == [None, payer.pk]
    assert "set-based chunk failed" in step.failures[0]["error"] and "2 clients" in step.failures[0]["chunk"]
    assert all("injected" in f["error"] for f in step.failures)
    logged = [r.getMessage() for r in caplog.records if r.name == "billing.night"]
    assert any("set-based chunk" in m for m in logged) and any(f"client {payer.pk} failed" in m for m in logged)
    assert Subscription.objects.get(client=second).period_index == 2 and Subscription.objects.get(client=payer).period_index == 1
    monkeypatch.setitem(night_module.APPLY, "renewals", original)
    monkeypatch.setattr(night_module, "renew_chunk", original_chunk)
    run_night(D(2027, 6, 2))
    assert Subscription.objects.get(client=payer).period_index == 2 and Subscription.objects.get(client=second).period_index == 2
    assert len(renewals(payer)) == len(renewals(second)) == 1


def test_a_run_killed_between_chunks_and_run_again_bills_everyone_once(db, monkeypatch):
    clients = []
    for n in range(4):
        client = verified(f"chunk{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    monkeypatch.setattr(night_module, "CHUNK", 1)
    original, calls = night_module.process, []

    def dies_after_two_chunks(step, ids, night):
        if step == "renewals" and len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed here
        if step == "renewals":
            calls.append(ids)
        return original(step, ids, night)

    monkeypatch.setattr(night_module, "process", dies_after_two_chunks)
    with pytest.raises(KeyboardInterrupt):
        run_night(D(2027, 6, 2))
    assert sum(len(renewals(c)) for c in clients) == 2
    monkeypatch.setattr(night_module, "process", original)
    run_night(D(2027, 6, 2))
    assert [len(renewals(c)) for c in clients] == [1, 1, 1, 1]
    assert NightlyRun.objects.filter(status="failed").count() == 1


def test_dea2_retention_deletes_archived_projects_after_the_window(payer):
    project = make_project(owner=payer)
    subscribers(project, 3)
    with travel(D(2027, 5, 1)):
        services.activate_pro(client=payer, period="monthly")
        services.deactivate_pro(client=payer, confirm=True)
    run_night(D(2027, 5, 30))
    assert Project.objects.get(pk=project.pk).deleted_at is None
    run_night(D(2027, 6, 2))
    assert Project.objects.get(pk=project.pk).deleted_at is not None and not Subscriber.objects.filter(project=project).exists()


def test_the_admin_shows_each_night_and_runs_it_again(client, staff, payer):
    with travel(D(2027, 5, 1)):
        services.activate_pro(client=payer, period="monthly")
    run = run_night(D(2027, 6, 2))
    client.force_login(staff)
    page = client.get(f"/admin/billing/nightlyrun/{run.pk}/change/")
    assert page.status_code == 200 and b"renewals" in page.content
    client.post("/admin/billing/nightlyrun/", {"action": "rerun", "_selected_action": [run.pk]})
    assert NightlyRun.objects.filter(night=D(2027, 6, 2)).count() == 2 and len(renewals(payer)) == 1


def test_the_beat_runs_the_night_at_01_00_utc_plus_2():
    from config.celery import app

    entry = app.conf.beat_schedule["run-nightly"]
    assert entry["task"] == "billing.tasks.nightly"
    assert entry["schedule"].hour == {23} and entry["schedule"].minute == {0}  # 23:00 UTC = 01:00 UTC+2


def test_run_nightly_refuses_a_time_without_an_offset(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_nightly", at="2027-01-01T01:00:00")
    assert not NightlyRun.objects.exists()


def test_wal6_the_night_numbers_a_chunks_invoices_together_and_gaplessly(db, staff, monkeypatch):
    clients = []
    for n in range(3):
        client = verified(f"numbered{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    numbered = []
    original = invoicing.number_invoices
    monkeypatch.setattr(invoicing, "number_invoices", lambda invoices: numbered.append(len(invoices)) or original(invoices))
    run_night(D(2027, 6, 2))
    assert 3 in numbered  # the three renewals of the chunk, numbered in one pass
    services.staff_credit(client=clients[0], amount_cents=100, reason="after", actor=staff)
    invoices = Invoice.objects.filter(series="INV").order_by("sequence")
    assert [i.sequence for i in invoices] == list(range(1, 7)) and not Invoice.objects.filter(number__isnull=True).exists()


def test_tar7_only_the_owner_pays_for_its_project(payer):
    """TAR-7: a participant's money never pays for another client's project, nor do its
    subscribers count for the participant."""
    from tests.factories import add_member

    helper = verified("helper@example.com")
    services.attach_card(client=helper, token="tok_visa")
    with travel(D(2027, 5, 1)):
        services.activate_pro(client=helper, period="monthly")
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    project = make_project(owner=payer)
    add_member(project=project, client=helper, subscribers="full")
    subscribers(project, 1500)
    helper_ledger = list(LedgerEntry.objects.filter(wallet__client=helper).values_list("pk", flat=True))
    run_night(D(2027, 5, 10))
    assert Subscription.objects.get(client=payer).packages == 2
    assert Subscription.objects.get(client=helper).packages == 1
    assert list(LedgerEntry.objects.filter(wallet__client=helper).values_list("pk", flat=True)) == helper_ledger


def test_dun2_dun3_the_dry_run_says_who_would_be_suspended_or_blocked(db):
    client = failing_pro()
    dry = run_night(D(2027, 7, 2), dry_run=True)
    assert dry.report["totals"]["suspend_if_unpaid"] == [client.pk] and dry.report["totals"]["collect_cents"] == 1000
    run_night(D(2027, 7, 2))
    client.refresh_from_db()
    assert client.status == "suspended"
    assert run_night(D(2027, 7, 3), dry_run=True).report["totals"]["block_if_unpaid"] == [client.pk]
    run_night(D(2027, 7, 3))
    client.refresh_from_db()
    assert client.block_reason == "billing"
