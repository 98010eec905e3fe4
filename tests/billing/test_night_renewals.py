"""Renewals (PER-3) over months: anniversaries across month ends and a leap year, quarterly periods, missed nights, DEA-3, numbering (WAL-6)."""


import pytest

from billing import invoicing, services
from billing.audit_actions import Audit
from billing.models import Invoice, LedgerEntry, Subscription
from billing.subscriptions import renewals as renewals_module
from compliance.models import AuditLog
from tests.billing.conftest import balance, verified
from tests.billing.nights import D, renewals, run_night, run_nights, travel

pytestmark = pytest.mark.django_db


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
    # The audit names the subscription as the admin does, the night's without reading the client.
    last = AuditLog.objects.filter(action=Audit.RENEWED).order_by("-id").first()
    assert (last.target_id, last.target_label) == (str(subscription.pk), str(subscription))
    assert last.target_label.startswith(payer.email)


def test_per3_quarterly_from_04_04_is_renewed_by_the_night_of_05_07(payer):
    with travel(D(2027, 4, 4)):
        services.activate_pro(client=payer, period="quarterly")
    run_night(D(2027, 7, 4))
    assert Subscription.objects.get().period_index == 1
    run_night(D(2027, 7, 5))
    subscription = Subscription.objects.get()
    assert (subscription.period_index, subscription.period_start, subscription.period_end) == (2, D(2027, 7, 5), D(2027, 10, 4))


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


def test_wal6_the_night_numbers_a_chunks_invoices_together_and_gaplessly(db, staff, monkeypatch):
    clients = []
    for n in range(3):
        client = verified(f"numbered{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    numbered = []
    original = invoicing.insert_invoices
    monkeypatch.setattr(renewals_module, "insert_invoices", lambda invoices: numbered.append(len(invoices)) or original(invoices))
    run_night(D(2027, 6, 2))
    assert 3 in numbered  # the three renewals of the chunk, numbered in one pass
    services.staff_credit(client=clients[0], amount_cents=100, reason="after", actor=staff)
    invoices = Invoice.objects.filter(series="INV").order_by("sequence")
    assert [i.sequence for i in invoices] == list(range(1, 7)) and not Invoice.objects.filter(number__isnull=True).exists()
