"""Activating PRO (PER-2, WAL-2, TAR-3, TAR-5, DEA-4) and what happens when the gateway fails."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing import ledger, services
from billing.gateways.base import GatewayUnavailable
from billing.gateways.sandbox import SandboxGateway
from billing.models import Invoice, LedgerEntry, PaymentAttempt, Subscription
from compliance.models import AuditLog
from projects.models import Subscriber
from tests.billing.conftest import balance, charged, verified
from tests.factories import api_as, make_client, make_project

pytestmark = pytest.mark.django_db
ACTIVATE = "/api/v1/billing/activate/"


def fill(project, count: int) -> None:
    now = timezone.now()
    Subscriber.objects.bulk_create([
        Subscriber(project=project, email=f"s{project.pk}-{n}@example.org", source="import", consent_at=now, consent_source="t", subscribed_at=now)
        for n in range(count)
    ])


def test_per2_activation_charges_the_first_period_wallet_first_then_the_card(payer):
    # The wallet holds the $1 of the card's verification; the card pays the other $9.
    with time_machine.travel(datetime.datetime(2027, 4, 4, 9, 0, tzinfo=datetime.UTC)):
        response = api_as(payer).post(ACTIVATE, {"period": "quarterly"})
    assert response.status_code == 200
    body = response.json()
    assert (body["tariff"], body["period"], body["packages"]) == ("pro", "quarterly", 1)
    assert (body["period_start"], body["period_end"]) == ("2027-04-04", "2027-07-04")
    assert body["balance_cents"] == 0 and body["debt_cents"] == 0
    assert charged(payer) == 100 + 2600  # verification, then what the wallet lacked of $27.00
    invoice = Invoice.objects.get(client=payer, kind="invoice")
    assert invoice.total_cents == 2700 and invoice.status == "paid" and invoice.number.startswith("INV-2027-")
    assert [line.amount_cents for line in invoice.lines.all()] == [2700]
    payer.refresh_from_db()
    assert payer.tariff == "pro"
    assert AuditLog.objects.filter(action="billing.pro_activated", client=payer).exists()


def test_wal2_a_wallet_that_covers_the_fee_means_no_card_charge(payer):
    services.staff_credit(client=payer, amount_cents=5000, reason="goodwill", actor=make_client(email="s@example.com"))
    services.activate_pro(client=payer, period="monthly")
    assert charged(payer) == 100 and balance(payer) == 100 + 5000 - 1000


def test_tar3_four_projects_with_1000_in_total_need_one_package(payer):
    Client.objects.filter(pk=payer.pk).update(tariff="pro")
    for n in range(4):
        fill(make_project(owner=payer, name=f"P{n}"), 250)
    Client.objects.filter(pk=payer.pk).update(tariff="free")
    assert services.activate_pro(client=payer, period="monthly").packages == 1


def test_tar3_1001_active_subscribers_need_two_packages(payer):
    fill(make_project(owner=payer), 1001)
    subscription = services.activate_pro(client=payer, period="monthly")
    assert subscription.packages == 2
    assert Invoice.objects.get(kind="invoice").total_cents == 2000


def test_per2_the_set_up_fee_is_charged_once_in_a_clients_life(payer, staff):
    services.change_policy(actor=staff, setup_fee_cents=4900)
    services.activate_pro(client=payer, period="monthly")
    first = Invoice.objects.get(kind="invoice")
    assert first.total_cents == 1000 + 4900 and "Set-up fee" in [line.description for line in first.lines.all()][1]
    services.deactivate_pro(client=payer, confirm=True)
    services.activate_pro(client=payer, period="monthly")
    second = Invoice.objects.filter(kind="invoice").order_by("-sequence").first()
    assert second.total_cents == 1000


@pytest.mark.parametrize(("setup", "code"), [("unverified", "email_unverified"), ("no_card", "card_required"), ("active", "already_active")])
def test_per2_refusals_are_409_and_change_nothing(db, setup, code):
    client = make_client(email="x@example.com") if setup == "unverified" else verified("x@example.com")
    if setup != "no_card":
        services.attach_card(client=client, token="tok_visa")
    if setup == "active":
        services.activate_pro(client=client, period="monthly")
    before = (charged(client), balance(client), Invoice.objects.count(), Subscription.objects.filter(status="active").count())
    response = api_as(client).post(ACTIVATE, {"period": "monthly"})
    assert response.status_code == 409 and response.json()["code"] == code and response.json()["detail"]
    assert (charged(client), balance(client), Invoice.objects.count(), Subscription.objects.filter(status="active").count()) == before


def test_per2_an_unknown_period_is_400(payer):
    assert api_as(payer).post(ACTIVATE, {"period": "weekly"}).status_code == 400
    assert not Subscription.objects.exists()


def test_tar5_activating_pro_lifts_a_free_limit_block_at_once(payer):
    accounts.block(client=payer, reason="free_limit")
    response = api_as(payer).post(ACTIVATE, {"period": "monthly"})
    assert response.status_code == 200
    payer.refresh_from_db()
    assert payer.status == "active"


def test_tar5_activation_does_not_lift_a_block_for_another_reason(payer):
    accounts.block(client=payer, reason="abuse")
    services.activate_pro(client=payer, period="monthly")
    payer.refresh_from_db()
    assert payer.status == "blocked" and payer.block_reason == "abuse"


class DecliningGateway(SandboxGateway):
    def charge(self, **kwargs):
        from billing.gateways.base import ChargeResult

        return ChargeResult(status="failed", failure_code="card_declined")


class TimingOutGateway(SandboxGateway):
    """Takes the charge, then the answer never arrives (the gateway did charge)."""

    def charge(self, **kwargs):
        super().charge(**kwargs)
        raise GatewayUnavailable("read timed out")


@pytest.fixture
def gateway(settings):
    def use(cls):
        settings.PAYMENT_GATEWAY = f"{cls.__module__}.{cls.__qualname__}"

    return use


def test_per2_a_declined_charge_activates_nothing(payer, gateway):
    gateway(DecliningGateway)
    response = api_as(payer).post(ACTIVATE, {"period": "monthly"})
    assert response.status_code == 409 and response.json()["code"] == "payment_failed"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()
    assert balance(payer) == 100
    assert PaymentAttempt.objects.filter(kind="charge", status="failed").count() == 1


def test_per7_a_timeout_leaves_no_subscription_and_the_retry_does_not_charge_again(payer, gateway):
    gateway(TimingOutGateway)
    response = api_as(payer).post(ACTIVATE, {"period": "monthly"})
    assert response.status_code == 503 and response.json()["code"] == "payment_pending"
    assert not Subscription.objects.exists() and not Invoice.objects.exists()
    attempt = PaymentAttempt.objects.get(kind="charge")
    assert attempt.status == "unknown"
    # The gateway comes back; the same request again carries the same key: no second charge.
    gateway(SandboxGateway)
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 200
    assert PaymentAttempt.objects.filter(kind="charge").count() == 1
    assert charged(payer) == 100 + 900 and balance(payer) == 0
    assert Subscription.objects.get().is_active


def test_per7_an_unknown_outcome_is_reconciled_by_its_key_into_the_wallet(payer, gateway):
    gateway(TimingOutGateway)
    api_as(payer).post(ACTIVATE, {"period": "monthly"})
    gateway(SandboxGateway)
    attempt = services.reconcile_attempt(attempt=PaymentAttempt.objects.get(kind="charge"))
    assert attempt.status == "booked"
    assert balance(payer) == 100 + 900  # the money is in the wallet: no payment without its entry
    services.reconcile_attempt(attempt=attempt)
    assert balance(payer) == 1000
    assert not Subscription.objects.exists()


class LostGateway(SandboxGateway):
    """The request never reaches the gateway."""

    def charge(self, **kwargs):
        raise GatewayUnavailable("connection refused")


def test_per7_reconciling_a_charge_the_gateway_never_got_marks_it_failed(payer, gateway):
    gateway(LostGateway)
    api_as(payer).post(ACTIVATE, {"period": "monthly"})
    gateway(SandboxGateway)
    attempt = services.reconcile_attempt(attempt=PaymentAttempt.objects.get(kind="charge"))
    assert attempt.status == "failed" and balance(payer) == 100


def test_wal1_every_cent_of_an_activation_is_in_the_ledger(payer):
    services.activate_pro(client=payer, period="yearly")
    entries = list(LedgerEntry.objects.filter(wallet__client=payer).values_list("kind", "amount_cents"))
    assert sorted(entries) == sorted([("verification", 100), ("card_payment", 9500), ("fee", -9600)])
    assert balance(payer) == sum(a for _, a in entries) == 0


def test_per7_the_beat_reconciles_unknown_payments_later(payer, gateway):
    from config.celery import app

    assert app.conf.beat_schedule["reconcile-payments"]["task"] == "billing.tasks.reconcile_payments"
    gateway(TimingOutGateway)
    api_as(payer).post(ACTIVATE, {"period": "monthly"})
    gateway(SandboxGateway)
    from billing.tasks import reconcile_payments

    assert reconcile_payments.delay().get() == 0  # too fresh: the request may still be retried
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        assert reconcile_payments.delay().get() == 1
    assert balance(payer) == 1000 and PaymentAttempt.objects.get(kind="charge").booked


def test_wal2_a_debt_is_paid_before_the_wallet_counts_for_the_fee(payer):
    wallet = services.wallet_of(payer)
    ledger.post(wallet, amount=-600, kind="fee", description="Unpaid", reference="t", key="debt-1")
    services.activate_pro(client=payer, period="monthly")
    assert balance(payer) == 0 and charged(payer) == 100 + 1000 + 500
