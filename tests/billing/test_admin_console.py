"""The billing staff console (issue 16): dollars everywhere, every money action on a confirmation
page that says to whom and at what cost (a reason where WAL-3 or PER-5 wants one), answered in a
sentence; the night's dry run and run from the admin (WAL-7)."""

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext

from accounts.models import Notice
from billing import night as night_module
from billing import services
from billing.audit_actions import Audit
from billing.models import Dispute, Invoice, LedgerEntry, NightlyRun, NightlyStep, PaymentAttempt, PeriodChangeRequest
from compliance.models import AuditLog
from core.clock import night_of
from tests.factories import make_client

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def browser(user) -> Browser:
    """A browser logged in as `user` (again inside a time travel: a session ends two weeks on)."""
    b = Browser()
    b.force_login(user)
    return b


@pytest.fixture
def viewer_user(db):
    """Staff who may look at billing but hold none of its action permissions."""
    user = make_client(email="viewer@example.com", name="Viewer")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="billing", codename__startswith="view_"))
    return user


@pytest.fixture
def viewer(viewer_user):
    return browser(viewer_user)


def balance(client) -> int:
    return services.balance_cents(services.wallet_of(client))


def paid(payer, cents: int = 2000) -> PaymentAttempt:
    services.top_up(client=payer, amount_cents=cents)
    return PaymentAttempt.objects.get(kind="charge")


def pending_request(payer) -> PeriodChangeRequest:
    services.activate_pro(client=payer, period="quarterly")
    services.change_period(client=payer, period="monthly")
    return PeriodChangeRequest.objects.get()


# --- dollars and names ----------------------------------------------------------------------------


def test_wal1_every_billing_list_and_page_shows_dollars_not_cents(staff_browser, payer):
    """WAL-1, WAL-6: amounts read as $10.00 in the lists, the detail pages and the inlines."""
    services.activate_pro(client=payer, period="monthly")
    invoice = Invoice.objects.get()
    wallet = services.wallet_of(payer)
    attempt = PaymentAttempt.objects.filter(kind="charge").first() or PaymentAttempt.objects.first()
    pages = {
        "/admin/billing/invoice/": "$10.00", f"/admin/billing/invoice/{invoice.pk}/change/": "$10.00",
        "/admin/billing/ledgerentry/": "$1.00", "/admin/billing/wallet/": "$", f"/admin/billing/wallet/{wallet.pk}/change/": "$1.00",
        "/admin/billing/subscription/": "$10.00", "/admin/billing/policysettings/": "$10.00",
        "/admin/billing/paymentattempt/": "$1.00", f"/admin/billing/paymentattempt/{attempt.pk}/change/": "$",
        "/admin/billing/sandboxcharge/": "$1.00",
    }
    for url, amount in pages.items():
        page = staff_browser.get(url)
        assert page.status_code == 200, url
        assert amount in page.text, url
        assert "amount_cents" not in page.text.replace('name="amount_cents"', ""), url


def test_wal1_rows_say_what_they_are():
    """WAL-1: a row's title names it (no 'NightlyStep object (1)')."""
    run = NightlyRun(night=D(2027, 3, 15), at=night_of(D(2027, 3, 15)), status=NightlyRun.Status.DONE)
    assert str(run) == "Night of 2027-03-15 (done)"
    assert str(NightlyRun(night=D(2027, 3, 15), at=run.at, dry_run=True, status="done")) == "Dry run of the night of 2027-03-15 (done)"
    run.save()
    assert str(NightlyStep(run=run, name="renewals")) == "renewals of the night of 2027-03-15"
    assert str(LedgerEntry(amount_cents=500, kind="staff_credit")) == "+$5.00 credit by staff"
    assert str(LedgerEntry(amount_cents=-1050, kind="fee")) == "-$10.50 pro fee"


def test_wal1_the_payment_list_costs_the_same_queries_for_few_and_many_rows(staff_browser, payer):
    """WAL-1: the list with its dollars and its Refund links costs a fixed number of queries."""
    services.top_up(client=payer, amount_cents=500)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert staff_browser.get("/admin/billing/paymentattempt/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for _ in range(4):
        services.top_up(client=payer, amount_cents=500)
    assert queries() == few


# --- refunds (WAL-3) ------------------------------------------------------------------------------


def test_wal3_the_refund_page_is_403_without_the_permission(viewer, payer):
    payment = paid(payer)
    assert viewer.get(f"/admin/billing/paymentattempt/{payment.pk}/refund/").status_code == 403
    assert viewer.post(f"/admin/billing/paymentattempt/{payment.pk}/refund/", {"post": "yes", "amount": "20", "reason": "x"}).status_code == 403
    assert not PaymentAttempt.objects.filter(kind="refund").exists()


def test_wal3_the_refund_page_says_to_whom_and_what_is_left(staff_browser, payer):
    payment = paid(payer)
    page = staff_browser.get(f"/admin/billing/paymentattempt/{payment.pk}/refund/")
    assert page.status_code == 200
    assert "payer@example.com" in page.text and "Left to refund: $20.00" in page.text and "•••• 4242" in page.text
    assert 'value="20.00"' in page.text  # the default: what is left
    assert "Reason" in page.text
    change = staff_browser.get(f"/admin/billing/paymentattempt/{payment.pk}/change/")
    assert f"/admin/billing/paymentattempt/{payment.pk}/refund/" in change.text


def test_wal3_a_refund_without_a_reason_shows_the_page_again_and_refunds_nothing(staff_browser, payer):
    payment = paid(payer)
    before = balance(payer)
    page = staff_browser.post(f"/admin/billing/paymentattempt/{payment.pk}/refund/", {"post": "yes", "amount": "20.00", "reason": " "})
    assert page.status_code == 200 and "errornote" in page.text and "Left to refund: $20.00" in page.text
    assert balance(payer) == before and not PaymentAttempt.objects.filter(kind="refund").exists()


def test_wal3_a_refund_above_what_is_left_is_refused_in_a_sentence(staff_browser, payer):
    payment = paid(payer)
    before = balance(payer)
    page = staff_browser.post(f"/admin/billing/paymentattempt/{payment.pk}/refund/", {"post": "yes", "amount": "25.00", "reason": "Not delivered"})
    assert page.status_code == 200 and "At most $20.00 is left to refund." in page.text
    assert balance(payer) == before and not PaymentAttempt.objects.filter(kind="refund").exists()


def test_wal3_staff_refund_a_payment_with_a_reason(staff_browser, payer, staff):
    payment = paid(payer)
    before = balance(payer)
    page = staff_browser.post(f"/admin/billing/paymentattempt/{payment.pk}/refund/", {"post": "yes", "amount": "12.50", "reason": "Not delivered"},
                              follow=True)
    assert page.status_code == 200
    assert "Refunded $12.50 to visa •••• 4242 of payer@example.com" in page.text
    refund = PaymentAttempt.objects.get(kind="refund")
    assert refund.status == "booked" and refund.amount_cents == 1250 and refund.refunds_id == payment.pk
    assert balance(payer) == before - 1250
    assert AuditLog.objects.filter(action=Audit.STAFF_REFUND, actor=staff, details__reason="Not delivered").exists()
    again = staff_browser.get(f"/admin/billing/paymentattempt/{payment.pk}/refund/")
    assert "Left to refund: $7.50" in again.text


# --- credits (WAL-3) ------------------------------------------------------------------------------


def test_wal3_the_credit_page_is_403_without_the_permission(viewer, payer):
    wallet = services.wallet_of(payer)
    assert viewer.get(f"/admin/billing/wallet/{wallet.pk}/credit/").status_code == 403
    assert viewer.post(f"/admin/billing/wallet/{wallet.pk}/credit/", {"post": "yes", "amount": "5", "reason": "x"}).status_code == 403
    assert balance(payer) == 100


def test_wal3_the_credit_page_says_whose_wallet_and_its_balance(staff_browser, payer):
    wallet = services.wallet_of(payer)
    page = staff_browser.get(f"/admin/billing/wallet/{wallet.pk}/credit/")
    assert page.status_code == 200 and "payer@example.com" in page.text and "Balance now: $1.00" in page.text and "Amount in dollars" in page.text
    assert f"/admin/billing/wallet/{wallet.pk}/credit/" in staff_browser.get("/admin/billing/wallet/").text


@pytest.mark.parametrize("form", [{"amount": "5.00", "reason": ""}, {"amount": "abc", "reason": "Goodwill"}, {"amount": "-5", "reason": "Goodwill"},
                                  {"amount": "0.001", "reason": "Goodwill"}])
def test_wal3_a_credit_without_a_reason_or_a_good_amount_changes_nothing(staff_browser, payer, form):
    wallet = services.wallet_of(payer)
    page = staff_browser.post(f"/admin/billing/wallet/{wallet.pk}/credit/", {"post": "yes", **form})
    assert page.status_code == 200 and "errornote" in page.text
    assert balance(payer) == 100 and not LedgerEntry.objects.filter(kind="staff_credit").exists()


def test_wal3_staff_credit_a_wallet_in_dollars_with_a_reason(staff_browser, payer, staff):
    wallet = services.wallet_of(payer)
    page = staff_browser.post(f"/admin/billing/wallet/{wallet.pk}/credit/", {"post": "yes", "amount": "5.25", "reason": "Goodwill"}, follow=True)
    assert page.status_code == 200 and "Credited $5.25 to the wallet of payer@example.com: its balance is $6.25" in page.text
    assert balance(payer) == 625
    assert AuditLog.objects.filter(action=Audit.STAFF_CREDIT, actor=staff, details__reason="Goodwill", details__amount_cents=525).exists()


def test_wal3_the_bulk_credit_asks_first_then_credits(staff_browser, payer):
    """WAL-3: the list's action shows its confirmation (whose wallets, their balance) before any credit."""
    wallet = services.wallet_of(payer)
    page = staff_browser.post("/admin/billing/wallet/", {"action": "credit_wallets", "_selected_action": [wallet.pk]})
    assert page.status_code == 200 and "payer@example.com: balance $1.00" in page.text
    assert not LedgerEntry.objects.filter(kind="staff_credit").exists()
    no_reason = staff_browser.post("/admin/billing/wallet/", {"action": "credit_wallets", "_selected_action": [wallet.pk], "post": "yes", "amount": "2"})
    assert no_reason.status_code == 200 and not LedgerEntry.objects.filter(kind="staff_credit").exists()
    done = staff_browser.post("/admin/billing/wallet/", {"action": "credit_wallets", "_selected_action": [wallet.pk], "post": "yes", "amount": "2",
                                                         "reason": "Goodwill"}, follow=True)
    assert "Credited $2.00 to 1 wallet." in done.text and balance(payer) == 300


# --- period changes (PER-5) -----------------------------------------------------------------------


def test_per5_the_decision_pages_are_403_without_the_permission(viewer, payer):
    request = pending_request(payer)
    for verb in ("approve", "refuse"):
        assert viewer.get(f"/admin/billing/periodchangerequest/{request.pk}/{verb}/").status_code == 403
        assert viewer.post(f"/admin/billing/periodchangerequest/{request.pk}/{verb}/", {"post": "yes", "reason": "x"}).status_code == 403
    request.refresh_from_db()
    assert request.status == "pending"


def test_per5_the_approval_page_says_what_the_switch_costs(staff_browser, payer):
    request = pending_request(payer)
    page = staff_browser.get(f"/admin/billing/periodchangerequest/{request.pk}/approve/")
    assert page.status_code == 200 and "payer@example.com" in page.text
    assert "1 × $10.00 = $10.00" in page.text and "The unused part is credited: 1 package × $27.00" in page.text and "Net cost to the client" in page.text
    change = staff_browser.get(f"/admin/billing/periodchangerequest/{request.pk}/change/")
    assert f"/admin/billing/periodchangerequest/{request.pk}/approve/" in change.text and f"/periodchangerequest/{request.pk}/refuse/" in change.text


def test_per5_staff_approve_a_shorter_period_and_the_client_is_told(staff_browser, payer):
    request = pending_request(payer)
    page = staff_browser.post(f"/admin/billing/periodchangerequest/{request.pk}/approve/", {"post": "yes", "note": ""}, follow=True)
    assert "Approved: payer@example.com is monthly from today" in page.text
    request.refresh_from_db()
    payer.subscription.refresh_from_db()
    assert request.status == "approved" and payer.subscription.period == "monthly"
    assert Notice.objects.filter(client=payer, kind=Notice.Kind.PERIOD_DECIDED, subject__contains="approved").exists()  # NTF-1


def test_per5_a_refusal_without_a_reason_changes_nothing(staff_browser, payer):
    request = pending_request(payer)
    page = staff_browser.post(f"/admin/billing/periodchangerequest/{request.pk}/refuse/", {"post": "yes", "reason": ""})
    assert page.status_code == 200 and "errornote" in page.text
    request.refresh_from_db()
    assert request.status == "pending" and not AuditLog.objects.filter(action=Audit.SHORTER_PERIOD_REFUSED).exists()


def test_per5_staff_refuse_with_a_reason_and_the_client_is_told_it(staff_browser, payer, staff):
    request = pending_request(payer)
    page = staff_browser.post(f"/admin/billing/periodchangerequest/{request.pk}/refuse/", {"post": "yes", "reason": "Stay on quarterly"}, follow=True)
    assert "Refused: payer@example.com stays quarterly" in page.text
    request.refresh_from_db()
    assert request.status == "refused" and request.staff_note == "Stay on quarterly" and request.decided_by == staff
    assert AuditLog.objects.filter(action=Audit.SHORTER_PERIOD_REFUSED, actor=staff).exists()
    assert Notice.objects.filter(client=payer, kind=Notice.Kind.PERIOD_DECIDED, body__contains="Stay on quarterly").exists()  # NTF-1


# --- disputes (CMP-2) -----------------------------------------------------------------------------


def test_cmp2_closing_a_dispute_asks_its_outcome_first(staff_browser, payer, staff):
    dispute = services.open_dispute(client=payer, amount_cents=2000, actor=staff, reference="CB-1")
    page = staff_browser.get(f"/admin/billing/dispute/{dispute.pk}/close/")
    assert page.status_code == 200 and "$20.00" in page.text and "payer@example.com" in page.text
    staff_browser.post(f"/admin/billing/dispute/{dispute.pk}/close/", {"post": "yes", "reason": ""})
    assert Dispute.objects.get().closed_at is None
    done = staff_browser.post(f"/admin/billing/dispute/{dispute.pk}/close/", {"post": "yes", "reason": "Won"}, follow=True)
    assert "Closed the dispute of $20.00 by payer@example.com" in done.text
    assert Dispute.objects.get().outcome == "Won"


def test_cmp2_a_dispute_is_recorded_in_dollars(staff_browser, payer):
    """Issue 16: staff type the disputed amount in dollars; the dispute keeps cents."""
    page = staff_browser.get("/admin/billing/dispute/add/")
    assert page.status_code == 200 and "in dollars" in page.text
    form = {"client": payer.pk, "payment": "", "reference": "CB-7", "amount_cents": "20.00", "note": ""}
    assert staff_browser.post("/admin/billing/dispute/add/", {**form, "amount_cents": "0.001"}).status_code == 200
    assert not Dispute.objects.exists()
    assert staff_browser.post("/admin/billing/dispute/add/", form).status_code == 302
    assert Dispute.objects.get().amount_cents == 2000


def test_cmp2_the_dispute_page_is_403_without_the_permission(viewer, payer, staff):
    dispute = services.open_dispute(client=payer, amount_cents=2000, actor=staff)
    assert viewer.post(f"/admin/billing/dispute/{dispute.pk}/close/", {"post": "yes", "reason": "Won"}).status_code == 403
    assert Dispute.objects.get().closed_at is None


# --- prices (TAR-4) -------------------------------------------------------------------------------


def test_tar4_the_price_page_shows_what_is_in_force_and_answers_in_a_sentence(staff_browser, viewer):
    from tests.billing.test_admin import policy_form

    assert viewer.get("/admin/billing/policysettings/add/").status_code == 403
    page = staff_browser.get("/admin/billing/policysettings/add/")
    assert page.status_code == 200 and "a package costs $10.00 a month" in page.text and "emailed before" in page.text
    done = staff_browser.post("/admin/billing/policysettings/add/", policy_form(package_monthly_cents=1200, note="2027"), follow=True)
    assert "New prices are in force" in done.text and "monthly $12.00" in done.text


# --- the night (WAL-7) ----------------------------------------------------------------------------


@pytest.fixture
def due(payer):
    """PRO monthly since 01.05.2027: renewed by the night of 02.06.2027."""
    with time_machine.travel(datetime.datetime(2027, 5, 1, 9, tzinfo=datetime.UTC), tick=False):
        services.activate_pro(client=payer, period="monthly")
    return payer


def tonight():
    return time_machine.travel(night_of(D(2027, 6, 2)), tick=False)


def test_wal7_the_night_pages_are_403_without_the_permission(viewer_user, due):
    with tonight():
        viewer = browser(viewer_user)
        assert viewer.get("/admin/billing/nightlyrun/dry-run/").status_code == 403
        assert viewer.post("/admin/billing/nightlyrun/run-tonight/", {"post": "yes"}).status_code == 403
    assert not NightlyRun.objects.exists()
    assert "Run tonight" not in browser(viewer_user).get("/admin/billing/nightlyrun/").text


def test_wal7_the_dry_run_shows_tonight_as_a_table_and_writes_nothing(staff, due):
    staff_browser = browser(staff)
    entries, invoices = LedgerEntry.objects.count(), Invoice.objects.count()
    assert "/admin/billing/nightlyrun/dry-run/" in staff_browser.get("/admin/billing/nightlyrun/").text
    with tonight():
        page = browser(staff).get("/admin/billing/nightlyrun/dry-run/")
    assert page.status_code == 200
    assert "payer@example.com" in page.text and "renewal" in page.text and "$10.00" in page.text
    assert "Charged (renewals and packages added): $10.00" in page.text and "/admin/billing/nightlyrun/run-tonight/" in page.text
    assert f"/admin/accounts/client/{due.pk}/change/" in page.text
    assert LedgerEntry.objects.count() == entries and Invoice.objects.count() == invoices
    assert list(NightlyRun.objects.values_list("dry_run", flat=True)) == [True]
    record = staff_browser.get(f"/admin/billing/nightlyrun/{NightlyRun.objects.get().pk}/change/")
    assert record.status_code == 200 and "payer@example.com" in record.text and "$10.00" in record.text


def test_wal7_run_tonight_confirms_with_what_it_will_charge_then_renews(staff, due):
    with tonight():
        staff_browser = browser(staff)
        page = staff_browser.get("/admin/billing/nightlyrun/run-tonight/")
        assert page.status_code == 200 and "Charged (renewals and packages added): $10.00" in page.text and "Yes, run tonight" in page.text
        assert not Invoice.objects.filter(reference__startswith="renewal:").exists()
        done = staff_browser.post("/admin/billing/nightlyrun/run-tonight/", {"post": "yes"})
        record = staff_browser.get(done.url)
    run = NightlyRun.objects.get(dry_run=False)
    assert done.status_code == 302 and done.url == f"/admin/billing/nightlyrun/{run.pk}/change/"
    assert Invoice.objects.filter(client=due, reference__startswith="renewal:").count() == 1
    assert "The night of 2027-06-02 ran: charged $10.00" in record.text
    assert "renewals" in record.text and "$10.00" in record.text


def test_wal7_a_night_that_stops_shows_a_message_not_a_500(staff, due, monkeypatch):
    real = night_module.run_nightly

    def broken(**kwargs):
        if kwargs.get("dry_run"):
            return real(**kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(night_module, "run_nightly", broken)
    with tonight():
        page = browser(staff).post("/admin/billing/nightlyrun/run-tonight/", {"post": "yes"}, follow=True)
    assert page.status_code == 200 and "The night stopped with an error: the database went away" in page.text
    assert not Invoice.objects.filter(reference__startswith="renewal:").exists()


def test_wal7_a_nights_record_shows_each_step_and_links_each_failure_to_its_client(staff_browser, payer):
    run = NightlyRun.objects.create(night=D(2027, 6, 2), at=night_of(D(2027, 6, 2)), status="done")
    NightlyStep.objects.create(run=run, name="renewals", clients=3, skipped=1, charged_cents=3000, credited_cents=250,
                               failures=[{"client": payer.pk, "error": "card declined"}])
    page = staff_browser.get(f"/admin/billing/nightlyrun/{run.pk}/change/")
    assert page.status_code == 200
    assert "renewals" in page.text and "$30.00" in page.text and "$2.50" in page.text and "card declined" in page.text
    assert f"/admin/accounts/client/{payer.pk}/change/" in page.text
    assert "Night of 2027-06-02 (done)" in staff_browser.get("/admin/billing/nightlyrun/").text


def test_wal7_running_a_night_again_asks_first(staff_browser, staff, due):
    with tonight():
        run = night_module.run_nightly(at=night_of(D(2027, 6, 2)))
    page = staff_browser.post("/admin/billing/nightlyrun/", {"action": "rerun", "_selected_action": [run.pk]})
    assert page.status_code == 200 and "Night of 2027-06-02 (done)" in page.text
    assert NightlyRun.objects.count() == 1
    with tonight():
        browser(staff).post("/admin/billing/nightlyrun/", {"action": "rerun", "_selected_action": [run.pk], "post": "yes"})
    assert NightlyRun.objects.count() == 2
    assert Invoice.objects.filter(client=due, reference__startswith="renewal:").count() == 1  # what is done stays done


def test_wal3_a_failed_payment_offers_no_refund_and_its_page_refuses_in_a_sentence(staff_browser, payer):
    """WAL-3: only a succeeded card payment is refunded; a failed one shows no Refund link."""
    payment = paid(payer)
    PaymentAttempt.objects.exclude(pk=payment.pk).update(status="failed")
    PaymentAttempt.objects.filter(pk=payment.pk).update(status="failed")
    before = balance(payer)
    assert "Refund…" not in staff_browser.get("/admin/billing/paymentattempt/").text
    page = staff_browser.post(f"/admin/billing/paymentattempt/{payment.pk}/refund/", {"post": "yes", "amount": "20.00", "reason": "Not delivered"})
    assert page.status_code == 200 and "Only a succeeded card payment can be refunded." in page.text
    assert balance(payer) == before and not PaymentAttempt.objects.filter(kind="refund").exists()
