"""Packages (PER-6) and the Free limit (TAR-5) at the night's count; only the owner pays (TAR-7)."""


import pytest
from django.utils import timezone

from billing import services
from billing.models import LedgerEntry, Subscription
from core.money import prorate_formula
from projects.models import Subscriber
from tests.billing.conftest import verified
from tests.billing.nights import D, run_night, subscribers, travel
from tests.factories import api_as, make_project

pytestmark = pytest.mark.django_db


def test_per6_packages_follow_the_count_with_pro_rata_charges_and_credits(payer):
    project = make_project(owner=payer)
    subscribers(project, 900)
    with travel(D(2027, 3, 1)):
        services.top_up(client=payer, amount_cents=20_000)
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04, 32 days
    subscribers(project, 200, start=900)  # 1,100 → 2 packages
    run_night(D(2027, 3, 10))
    added = LedgerEntry.objects.get(kind="package_change")
    assert added.amount_cents == -prorate_formula(packages=1, price_cents=1000, days=23, period_days=32)[0] == -719
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


def test_tar5_a_client_back_on_free_is_not_blocked_by_the_subscribers_of_its_archived_projects(payer):
    from accounts import services as accounts
    from projects.models import Project

    live, archived = make_project(owner=payer, name="Live"), make_project(owner=payer, name="Old")
    subscribers(live, 300)
    subscribers(archived, 800, start=300)
    Project.objects.filter(pk=archived.pk).update(status="archived", archived_at=timezone.now())  # as DEA-2 leaves it
    run_night(D(2027, 5, 1))
    payer.refresh_from_db()
    assert payer.status == "active"
    # One blocked before (by the archived project's subscribers) is lifted at the next night.
    accounts.block(client=payer, reason="free_limit", note="counted before TAR-5 left archived projects out")
    run_night(D(2027, 5, 2))
    payer.refresh_from_db()
    assert payer.status == "active" and payer.block_reason == ""
    assert payer.state_changes.first().note.startswith("300 active subscribers: under the Free limit again")


def test_tar5_leaving_the_free_limit_lifts_the_block_at_the_next_night_and_no_other_block(payer, other_account):
    from accounts import services as accounts
    from billing.night import run_nightly
    from core.clock import night_of

    project = make_project(owner=payer)
    subscribers(project, 501)
    run_night(D(2027, 5, 1))
    payer.refresh_from_db()
    assert (payer.status, payer.block_reason) == ("blocked", "free_limit")
    Subscriber.objects.filter(pk=Subscriber.objects.filter(project=project).order_by("pk").first().pk).update(status="unsubscribed", unsubscribed_at=timezone.now())
    with travel(D(2027, 5, 1), hour=23):
        planned = run_nightly(at=night_of(D(2027, 5, 2)), dry_run=True).report["totals"]
    assert planned["free_limit_lifts"] == [payer.pk]
    run_night(D(2027, 5, 2))
    payer.refresh_from_db()
    assert payer.status == "active"
    # A block for another reason is not the night's to lift, whatever the count.
    accounts.block(client=other_account, reason="abuse", note="staff")
    run_night(D(2027, 5, 3))
    other_account.refresh_from_db()
    assert (other_account.status, other_account.block_reason) == ("blocked", "abuse")


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


def test_tar5_free_clients_over_the_limit_the_same_night_are_each_blocked_with_their_count_and_told_once(db, django_capture_on_commit_callbacks):
    from django.core import mail

    from accounts.models import Restriction

    over = [verified(f"over{n}@example.com") for n in range(3)]
    for client, count in zip(over, (501, 501, 640), strict=True):
        subscribers(make_project(owner=client), count)
    under = verified("under@example.com")
    subscribers(make_project(owner=under), 500)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 5, 2))

    for client, count in zip(over, (501, 501, 640), strict=True):
        client.refresh_from_db()
        assert (client.status, client.block_reason) == ("blocked", "free_limit")
        block = Restriction.objects.get(client=client, reason="free_limit", lifted_at__isnull=True)
        assert block.note == f"{count} active subscribers on Free (TAR-5)."
    under.refresh_from_db()
    assert under.status == "active"
    told = sorted(m.to[0] for m in mail.outbox if "500 active subscribers" in m.body)
    assert told == sorted(c.email for c in over)
