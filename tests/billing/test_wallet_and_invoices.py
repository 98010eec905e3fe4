"""The wallet ledger (WAL-1, WAL-3, WAL-5), invoices and credit notes (WAL-6), what is coming (WAL-7)."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import services
from billing.models import Invoice, InvoiceLine, LedgerEntry, PaymentAttempt, PolicySettings
from compliance.models import AppendOnlyError, AuditLog
from core.exceptions import RuleRefused
from projects.models import Subscriber
from tests.billing.conftest import balance, charged
from tests.factories import api_as, make_project

pytestmark = pytest.mark.django_db


def test_wal5_a_top_up_from_the_card(payer):
    response = api_as(payer).post("/api/v1/billing/topup/", {"amount_cents": 2500})
    assert response.status_code == 200 and response.json()["balance_cents"] == 2600
    assert LedgerEntry.objects.filter(kind="top_up", amount_cents=2500).count() == 1
    assert AuditLog.objects.filter(action="billing.topped_up", client=payer).exists()


def test_wal5_the_same_idempotency_key_tops_up_once(payer):
    api = api_as(payer)
    for _ in range(3):
        assert api.post("/api/v1/billing/topup/", {"amount_cents": 2500}, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 200
    assert charged(payer) == 100 + 2500 and balance(payer) == 2600
    other = api.post("/api/v1/billing/topup/", {"amount_cents": 900}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("amount", [0, 99, -500, 1_000_001, "ten"])
def test_wal5_a_bad_amount_is_400_and_charges_nothing(payer, amount):
    response = api_as(payer).post("/api/v1/billing/topup/", {"amount_cents": amount})
    assert response.status_code == 400 and "amount_cents" in response.json()
    assert charged(payer) == 100


def test_wal5_a_top_up_without_a_card_is_refused(db):
    from tests.billing.conftest import verified

    client = verified("nocard@example.com")
    response = api_as(client).post("/api/v1/billing/topup/", {"amount_cents": 1000})
    assert response.status_code == 409 and response.json()["code"] == "card_required"


def test_wal1_ledger_entries_are_never_changed_or_deleted(payer):
    entry = LedgerEntry.objects.get(wallet__client=payer)
    entry.amount_cents = 1_000_000
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_cents=5)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    assert balance(payer) == 100


def test_wal1_the_ledger_api_lists_entries_newest_first_credits_positive_debits_negative(payer):
    services.activate_pro(client=payer, period="monthly")
    api = api_as(payer)
    api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as queries:
        entries = api.get("/api/v1/billing/ledger/").json()["results"]
    assert [e["kind"] for e in entries] == ["fee", "card_payment", "verification"]
    assert [e["amount_cents"] for e in entries] == [-1000, 900, 100]
    assert sum(e["amount_cents"] for e in entries) == api.get("/api/v1/billing/").json()["balance_cents"] == 0
    assert len(queries) <= 6


def test_wal3_staff_credit_with_a_reason_and_a_credit_note(payer, staff):
    entry = services.staff_credit(client=payer, amount_cents=700, reason="Outage on 3 May", actor=staff)
    assert entry.amount_cents == 700 and "Outage on 3 May" in entry.description
    assert entry.invoice.kind == "credit_note" and entry.invoice.total_cents == -700
    assert AuditLog.objects.filter(action="billing.staff_credit", actor=staff, details__reason="Outage on 3 May").exists()
    with pytest.raises(ValidationError):
        services.staff_credit(client=payer, amount_cents=700, reason=" ", actor=staff)


def test_wal3_staff_refund_returns_money_to_the_card_and_takes_it_from_the_wallet(payer, staff):
    services.top_up(client=payer, amount_cents=3000)
    payment = PaymentAttempt.objects.get(kind="charge")
    services.staff_refund(payment=payment, amount_cents=2000, reason="Service not delivered", actor=staff)
    assert balance(payer) == 100 + 3000 - 2000 and charged(payer) == 100 + 1000
    with pytest.raises(ValidationError):
        services.staff_refund(payment=payment, amount_cents=1001, reason="Again", actor=staff)  # only $10.00 is left to refund
    assert AuditLog.objects.filter(action="billing.staff_refund", actor=staff).exists()


def test_wal3_no_refund_after_the_window(payer, staff):
    services.top_up(client=payer, amount_cents=3000)
    payment = PaymentAttempt.objects.get(kind="charge")
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
        with pytest.raises(RuleRefused) as refused:
            services.staff_refund(payment=payment, amount_cents=1000, reason="Late", actor=staff)
    assert refused.value.code == "refund_window_passed" and balance(payer) == 3100


def test_wal6_numbers_are_gapless_per_series_and_year(payer, staff):
    with time_machine.travel(datetime.datetime(2026, 12, 30, 12, tzinfo=datetime.UTC)):
        services.activate_pro(client=payer, period="monthly")
        services.staff_credit(client=payer, amount_cents=100, reason="a", actor=staff)
        services.staff_credit(client=payer, amount_cents=100, reason="b", actor=staff)
    with time_machine.travel(datetime.datetime(2027, 1, 2, 12, tzinfo=datetime.UTC)):
        services.staff_credit(client=payer, amount_cents=100, reason="c", actor=staff)
    numbers = list(Invoice.objects.order_by("issued_at", "id").values_list("number", flat=True))
    assert numbers == ["INV-2026-000001", "CN-2026-000001", "CN-2026-000002", "CN-2027-000001"]


def test_wal6_a_failed_invoice_gives_its_number_back(payer, staff):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.staff_credit(client=payer, amount_cents=100, reason="rolled back", actor=staff)
        raise RuntimeError
    services.staff_credit(client=payer, amount_cents=100, reason="kept", actor=staff)
    assert list(Invoice.objects.values_list("number", flat=True)) == [f"CN-{Invoice.objects.get().year}-000001"]


def test_wal6_invoices_are_never_deleted(payer):
    services.activate_pro(client=payer, period="monthly")
    invoice = Invoice.objects.get()
    with pytest.raises(AppendOnlyError):
        invoice.delete()
    with pytest.raises(AppendOnlyError):
        Invoice.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        InvoiceLine.objects.all().delete()


def test_wal6_invoice_list_and_pdf(payer, other_account):
    services.activate_pro(client=payer, period="monthly")
    api = api_as(payer)
    listed = api.get("/api/v1/billing/invoices/").json()["results"]
    assert len(listed) == 1
    invoice = listed[0]
    assert set(invoice) >= {"number", "kind", "issued_at", "due_at", "total_cents", "status", "lines"}
    assert invoice["lines"][0]["amount_cents"] == 1000 and invoice["status"] == "paid"
    pdf = api.get(f"/api/v1/billing/invoices/{invoice['number']}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert api_as(other_account).get(f"/api/v1/billing/invoices/{invoice['number']}/pdf/").status_code == 404


def test_wal7_upcoming_shows_the_renewal_and_tonights_package_change(payer):
    with time_machine.travel(datetime.datetime(2027, 3, 1, 9, tzinfo=datetime.UTC), tick=False):
        services.activate_pro(client=payer, period="monthly")
        services.top_up(client=payer, amount_cents=400)
        now = timezone.now()
        project = make_project(owner=payer)
        Subscriber.objects.bulk_create([
            Subscriber(project=project, email=f"u{n}@example.org", source="import", consent_at=now, consent_source="t", subscribed_at=now)
            for n in range(1001)
        ])
        body = api_as(payer).get("/api/v1/billing/upcoming/").json()
    # Tonight (02.03) a second package for 02.03–01.04: 31 of 32 days.
    assert body["tonight"]["packages_change"] == 1
    assert body["tonight"]["amount_cents"] == 969 and body["tonight"]["wallet_cents"] == 400 and body["tonight"]["card_cents"] == 569
    assert body["tonight"]["description"] == "1 package × $10.00 × 31/32 days = $9.69"
    renewal = body["renewal"]
    night = datetime.datetime(2027, 4, 2, 1, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert datetime.datetime.fromisoformat(renewal["at"]) == night  # PER-3: the night after the period's last day
    assert (renewal["packages"], renewal["amount_cents"], renewal["wallet_cents"], renewal["card_cents"]) == (2, 2000, 0, 2000)


def test_wal7_nothing_is_coming_on_free(db, client_account):
    assert api_as(client_account).get("/api/v1/billing/upcoming/").json() == {"renewal": None, "tonight": None}


def test_billing_summary_for_a_free_client(client_account):
    body = api_as(client_account).get("/api/v1/billing/").json()
    assert body["tariff"] == "free" and body["period"] is None and body["card"] is None and body["balance_cents"] == 0


def test_acc3_a_blocked_client_still_reaches_billing(payer):
    from accounts import services as accounts

    accounts.block(client=payer, reason="billing")
    api = api_as(payer)
    assert api.get("/api/v1/billing/").status_code == 200
    assert api.post("/api/v1/billing/topup/", {"amount_cents": 500}).status_code == 200


def test_prices_follow_the_policy(db):
    PolicySettings.objects.create(package_monthly_cents=1200, quarterly_discount_percent=15, yearly_discount_percent=25, setup_fee_cents=990)
    from tests.factories import make_client

    body = api_as(make_client(email="p@example.com")).get("/api/v1/billing/prices/").json()
    assert body == {"package_cents": {"monthly": 1200, "quarterly": 3060, "yearly": 10800}, "setup_fee_cents": 990}


def test_wal1_each_entry_explains_itself_with_its_rule(payer, staff):
    services.activate_pro(client=payer, period="monthly")
    services.top_up(client=payer, amount_cents=500)
    services.staff_credit(client=payer, amount_cents=100, reason="Sorry", actor=staff)
    descriptions = {e.kind: e.description for e in LedgerEntry.objects.filter(wallet__client=payer)}
    assert "(activation, PER-2)" in descriptions["fee"] and "1 package × $10.00" in descriptions["fee"]
    assert "WAL-2" in descriptions["card_payment"] and "WAL-4" in descriptions["verification"]
    assert "WAL-5" in descriptions["top_up"] and "WAL-3" in descriptions["staff_credit"] and "Sorry" in descriptions["staff_credit"]
