"""The staff console for billing: prices with history, requests, credits, refunds, PDFs."""

import pytest

from billing import services
from billing.models import LedgerEntry, PaymentAttempt, PeriodChangeRequest, PolicySettings
from compliance.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def as_typed(form: dict) -> dict:
    """The add page's fields as staff type them: amounts in dollars (issue 16), not cents."""
    return {name: f"{value / 100:.2f}" if name.endswith("_cents") else value for name, value in form.items()}


def policy_form(**changes) -> dict:
    policy = services.current_policy()
    form = {name: getattr(policy, name) for name in services.POLICY_FIELDS}
    form["prorate_on_cancel"] = "on" if policy.prorate_on_cancel else ""
    return as_typed({**form, "note": "", **changes})


def test_tar4_the_price_page_takes_and_shows_dollars(staff_browser):
    page = staff_browser.get("/admin/billing/policysettings/add/")
    assert 'value="10.00"' in page.text and "typed in dollars" in page.text
    done = staff_browser.post("/admin/billing/policysettings/add/", {**policy_form(), "package_monthly_cents": "12.50"})
    assert done.status_code == 302
    assert PolicySettings.objects.count() == 2 and services.current_policy().package_monthly_cents == 1250
    refused = staff_browser.post("/admin/billing/policysettings/add/", {**policy_form(), "late_fee_cents": "2.505"})
    assert refused.status_code == 200 and "decimal places" in refused.text
    assert PolicySettings.objects.count() == 2


def test_tar4_staff_set_a_new_price_and_the_old_one_stays_in_the_history(staff_browser, staff):
    response = staff_browser.post("/admin/billing/policysettings/add/", policy_form(package_monthly_cents=1200, note="2027 prices"))
    assert response.status_code == 302
    assert services.current_policy().package_monthly_cents == 1200
    assert list(PolicySettings.objects.order_by("created_at").values_list("package_monthly_cents", flat=True)) == [1000, 1200]
    assert AuditLog.objects.filter(action="billing.policy_changed", actor=staff).exists()
    assert staff_browser.get("/admin/billing/policysettings/").status_code == 200


def test_tar4_the_admin_refuses_a_price_below_10_dollars(staff_browser):
    response = staff_browser.post("/admin/billing/policysettings/add/", policy_form(package_monthly_cents=900))
    assert response.status_code == 200 and b"less than $10.00" in response.content
    assert PolicySettings.objects.count() == 1


def test_per5_staff_approve_a_shorter_period_in_the_admin(staff_browser, payer):
    services.activate_pro(client=payer, period="quarterly")
    services.change_period(client=payer, period="monthly")
    request = PeriodChangeRequest.objects.get()
    staff_browser.post("/admin/billing/periodchangerequest/", {"action": "approve", "_selected_action": [request.pk], "post": "yes"})
    request.refresh_from_db()
    assert request.status == "approved"
    payer.subscription.refresh_from_db()
    assert payer.subscription.period == "monthly"


def test_wal3_staff_credit_a_wallet_with_a_reason(staff_browser, payer):
    wallet = services.wallet_of(payer)
    staff_browser.post("/admin/billing/wallet/", {"action": "credit_wallets", "_selected_action": [wallet.pk], "post": "yes", "amount": "5.00", "reason": "Goodwill"})
    assert LedgerEntry.objects.filter(kind="staff_credit", amount_cents=500).exists()
    page = staff_browser.get("/admin/billing/wallet/")
    assert page.status_code == 200 and b"$6.00" in page.content
    assert staff_browser.get(f"/admin/billing/wallet/{wallet.pk}/change/").status_code == 200


def test_wal3_a_credit_without_a_reason_changes_nothing(staff_browser, payer):
    wallet = services.wallet_of(payer)
    response = staff_browser.post(
        "/admin/billing/wallet/", {"action": "credit_wallets", "_selected_action": [wallet.pk], "post": "yes", "amount": "5.00", "reason": ""}, follow=True
    )
    assert b"This field is required" in response.content
    assert not LedgerEntry.objects.filter(kind="staff_credit").exists()


def test_wal6_staff_open_an_invoice_pdf(staff_browser, payer):
    services.activate_pro(client=payer, period="monthly")
    from billing.models import Invoice

    invoice = Invoice.objects.get()
    assert b"PDF" in staff_browser.get("/admin/billing/invoice/").content
    pdf = staff_browser.get(f"/admin/billing/invoice/{invoice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_wal1_the_ledger_cannot_be_edited_from_the_admin(staff_browser, payer):
    entry = LedgerEntry.objects.get()
    assert staff_browser.get(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
    assert staff_browser.get("/admin/billing/ledgerentry/add/").status_code == 403
    staff_browser.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"amount_cents": "999999"})
    entry.refresh_from_db()
    assert entry.amount_cents == 100


def test_card3_staff_refund_a_payment_from_the_admin(staff_browser, payer):
    services.top_up(client=payer, amount_cents=2000)
    payment = PaymentAttempt.objects.get(kind="charge")
    staff_browser.post("/admin/billing/paymentattempt/", {"action": "refund", "_selected_action": [payment.pk], "post": "yes", "amount": "20.00", "reason": "Not delivered"})
    assert PaymentAttempt.objects.filter(kind="refund", status="booked", amount_cents=2000).exists()
    assert services.balance_cents(services.wallet_of(payer)) == 100


def test_per7_staff_see_each_payments_state_its_key_and_what_the_sandbox_took(staff_browser, payer):
    services.top_up(client=payer, amount_cents=2000, idempotency_key="order-42")
    attempts = staff_browser.get("/admin/billing/paymentattempt/?status__exact=booked")
    assert attempts.status_code == 200 and "Succeeded and booked" in attempts.text
    keys = staff_browser.get("/admin/billing/idempotencyrecord/?q=order-42")
    assert keys.status_code == 200 and "order-42" in keys.text and "topup" in keys.text
    taken = staff_browser.get("/admin/billing/sandboxcharge/")
    assert taken.status_code == 200 and f"client-{payer.pk}" in taken.text
    assert staff_browser.post("/admin/billing/idempotencyrecord/add/", {"key": "x"}).status_code == 403  # read-only


def test_per7_the_admins_reconcile_books_a_payment_taken_and_not_booked(staff_browser, payer):
    from billing import payments

    card = payments.live_card(payer)
    attempt = payments.open_attempt(client=payer, card=card, amount=700, purpose="Lost on the way", key="admin-lost")
    payments.send(attempt)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(status="succeeded")  # answered, then the process died
    response = staff_browser.post("/admin/billing/paymentattempt/", {"action": "reconcile", "_selected_action": [attempt.pk], "post": "yes"}, follow=True)
    assert response.status_code == 200 and "Reconciled: 1" in response.text
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "booked"
    assert services.balance_cents(services.wallet_of(payer)) == 800


def test_wal6_the_invoice_list_shows_due_paid_and_what_a_credit_note_corrects(staff_browser, payer, staff):
    services.activate_pro(client=payer, period="monthly")
    services.staff_credit(client=payer, amount_cents=100, reason="goodwill", actor=staff)
    page = staff_browser.get("/admin/billing/invoice/")
    invoice = payer.invoices.get(kind="invoice")
    assert page.status_code == 200 and page.text.count(invoice.number) >= 2  # its own row, and the credit note's "corrects"
    assert staff_browser.get("/admin/billing/invoice/?status__exact=open").status_code == 200
