"""Period changes (PER-4, PER-5), deactivation and reactivation (DEA-1..4), price changes (TAR-4)."""

import datetime

import pytest
import time_machine

from billing import services
from billing.models import Invoice, LedgerEntry, PeriodChangeRequest, Subscription
from core.exceptions import RuleRefused
from core.money import prorate_formula
from projects.models import Project
from tests.billing.conftest import balance
from tests.factories import api_as, make_project

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def at(y, m, d, hour=9):
    return time_machine.travel(datetime.datetime(y, m, d, hour, 0, tzinfo=UTC), tick=False)


def test_per4_a_longer_period_takes_effect_at_once_with_the_unused_part_credited(payer):
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04: 32 days, $10.00
    with at(2027, 3, 17):
        response = api_as(payer).post("/api/v1/billing/period/", {"period": "quarterly"})
    assert response.status_code == 200
    body = response.json()
    assert (body["period"], body["period_start"], body["period_end"]) == ("quarterly", "2027-03-17", "2027-06-17")
    credit = LedgerEntry.objects.get(kind="unused_credit")
    # 17.03 to 01.04 inclusive: 16 of the 32 days unused.
    assert credit.amount_cents == 500 and "1 package × $10.00 × 16/32 days = $5.00" in credit.description
    assert Invoice.objects.filter(kind="credit_note", total_cents=-500).exists()
    fee = Invoice.objects.filter(kind="invoice").order_by("-sequence").first()
    assert fee.total_cents == 2700  # the quarterly discount is kept
    assert balance(payer) == 0


def test_per5_a_shorter_period_waits_for_staff(payer):
    services.activate_pro(client=payer, period="yearly")
    response = api_as(payer).post("/api/v1/billing/period/", {"period": "monthly"})
    assert response.status_code == 202
    assert response.json()["pending_period"] == "monthly" and response.json()["period"] == "yearly"
    assert Subscription.objects.get().period == "yearly"
    again = api_as(payer).post("/api/v1/billing/period/", {"period": "quarterly"})
    assert again.status_code == 409 and again.json()["code"] == "request_pending"


def test_per5_on_approval_the_switch_happens_and_the_discount_is_lost(payer, staff):
    with at(2027, 1, 1):
        services.activate_pro(client=payer, period="yearly")  # $96.00 for 01.01.2027–01.01.2028 (366 days)
    with at(2027, 1, 2):
        services.change_period(client=payer, period="monthly")
        services.approve_period_change(request=PeriodChangeRequest.objects.get(), actor=staff)
    subscription = Subscription.objects.get()
    assert (subscription.period, subscription.package_price_cents) == ("monthly", 1000)
    credit = LedgerEntry.objects.get(kind="unused_credit")
    assert credit.amount_cents == prorate_formula(packages=1, price_cents=9600, days=365, period_days=366)[0]
    assert PeriodChangeRequest.objects.get().status == "approved"


def test_per5_staff_may_refuse(payer, staff):
    services.activate_pro(client=payer, period="quarterly")
    services.change_period(client=payer, period="monthly")
    services.refuse_period_change(request=PeriodChangeRequest.objects.get(), actor=staff, note="Not within the rules")
    assert Subscription.objects.get().period == "quarterly"
    assert api_as(payer).get("/api/v1/billing/").json()["pending_period"] is None


@pytest.mark.parametrize(("period", "code"), [("monthly", "same_period")])
def test_per4_the_same_period_is_refused(payer, period, code):
    services.activate_pro(client=payer, period="monthly")
    response = api_as(payer).post("/api/v1/billing/period/", {"period": period})
    assert response.status_code == 409 and response.json()["code"] == code


def test_per4_a_period_change_without_pro_is_refused(payer):
    response = api_as(payer).post("/api/v1/billing/period/", {"period": "yearly"})
    assert response.status_code == 409 and response.json()["code"] == "not_pro"


def test_dea1_dea2_deactivation_credits_the_unused_part_and_archives_projects(payer):
    project = make_project(owner=payer)
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")
    with at(2027, 3, 17):
        refused = api_as(payer).post("/api/v1/billing/deactivate/", {"confirm": False})
        response = api_as(payer).post("/api/v1/billing/deactivate/", {"confirm": True})
    assert refused.status_code == 400
    assert response.status_code == 200 and response.json()["tariff"] == "free"
    # 18.03 to 01.04: 15 of 32 days after today.
    assert LedgerEntry.objects.get(kind="unused_credit").amount_cents == 469
    project.refresh_from_db()
    assert project.status == "archived" and project.archived_at is not None
    payer.refresh_from_db()
    assert payer.tariff == "free"


def test_dea1_with_prorate_on_cancel_off_the_period_simply_runs_out(payer, staff):
    """No credit, and PRO, its packages and the projects stay until the paid period's end; the
    night after it the client is on Free and the projects archived (DEA-2). The API says when."""
    from tests.billing.nights import D, run_night

    services.change_policy(actor=staff, prorate_on_cancel=False)
    project = make_project(owner=payer)
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04
    with at(2027, 3, 10):
        services.deactivate_pro(client=payer, confirm=True)
    assert not LedgerEntry.objects.filter(kind="unused_credit").exists()
    subscription = Subscription.objects.get()
    assert subscription.is_active and subscription.ends_after == subscription.period_end == datetime.date(2027, 4, 1)
    assert api_as(payer).get("/api/v1/billing/").json()["ends_after"] == "2027-04-01"
    run_night(D(2027, 4, 1))  # the period's last day is not over yet
    project.refresh_from_db()
    payer.refresh_from_db()
    assert Subscription.objects.get().is_active and payer.tariff == "pro" and project.status == "active"
    run_night(D(2027, 4, 2))
    project.refresh_from_db()
    payer.refresh_from_db()
    assert not Subscription.objects.get().is_active and payer.tariff == "free" and project.status == "archived"
    assert not LedgerEntry.objects.filter(wallet__client=payer, reference__startswith="renewal:").exists()  # never renewed


def test_dea3_a_late_deactivation_takes_effect_after_the_next_period(payer, staff):
    services.change_policy(actor=staff, cancel_notice_business_days=5)
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")  # renews 02.04
    with at(2027, 3, 29):  # Monday; 4 business days to the renewal
        services.deactivate_pro(client=payer, confirm=True)
    subscription = Subscription.objects.get()
    assert subscription.is_active and subscription.ends_after == datetime.date(2027, 5, 1)
    assert api_as(payer).get("/api/v1/billing/").json()["ends_after"] == "2027-05-01"


def test_dea3_an_early_enough_deactivation_takes_effect_at_once(payer, staff):
    services.change_policy(actor=staff, cancel_notice_business_days=5)
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")
    with at(2027, 3, 10):
        services.deactivate_pro(client=payer, confirm=True)
    assert not Subscription.objects.get().is_active


def test_dea4_reactivation_restores_archived_projects_without_the_set_up_fee(payer, staff):
    services.change_policy(actor=staff, setup_fee_cents=2500)
    project = make_project(owner=payer)
    services.activate_pro(client=payer, period="monthly")
    services.deactivate_pro(client=payer, confirm=True)
    assert Project.objects.get(pk=project.pk).status == "archived"
    services.activate_pro(client=payer, period="monthly")
    assert Project.objects.get(pk=project.pk).status == "active"
    totals = list(Invoice.objects.filter(kind="invoice").order_by("sequence").values_list("total_cents", flat=True))
    assert totals == [3500, 1000]


def test_dea4_after_the_retention_window_archived_projects_stay_archived(payer):
    project = make_project(owner=payer)
    with at(2027, 3, 1):
        services.activate_pro(client=payer, period="monthly")
        services.deactivate_pro(client=payer, confirm=True)
    with at(2027, 4, 15):
        services.activate_pro(client=payer, period="monthly")
    assert Project.objects.get(pk=project.pk).status == "archived"


def test_tar4_a_price_below_10_dollars_is_refused(staff):
    with pytest.raises(RuleRefused) as refused:
        services.change_policy(actor=staff, package_monthly_cents=999)
    assert refused.value.code == "price_below_minimum"
    assert services.current_policy().package_monthly_cents == 1000


def test_tar4_a_price_change_applies_from_the_next_period_never_to_one_paid(payer, staff):
    services.activate_pro(client=payer, period="monthly")
    services.change_policy(actor=staff, package_monthly_cents=1500)
    subscription = Subscription.objects.get()
    assert subscription.package_price_cents == 1000
    assert api_as(payer).get("/api/v1/billing/prices/").json()["package_cents"]["monthly"] == 1500
    renewal = api_as(payer).get("/api/v1/billing/upcoming/").json()["renewal"]
    assert renewal["amount_cents"] == 1500
