"""The client dashboard's overview, billing and privacy pages: what a client sees and does, through
the same services as the API; refusals show the rule's sentence; lists page by a signed cursor
in a constant number of queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts
from billing import services
from billing.models import LedgerEntry, Subscription
from tests.billing.conftest import balance, verified
from tests.factories import PASSWORD, make_client
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer_browser(client):
    payer = verified("dash@example.com")
    services.attach_card(client=payer, token="tok_visa", actor=payer)
    client.force_login(payer)
    return client, payer


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_overview_shows_tariff_subscribers_against_the_limit_wallet_and_restrictions(payer_browser):
    browser, payer = payer_browser
    accounts.block(client=payer, reason="abuse")
    page = text(browser.get("/"))
    assert "FREE" in page and "of 500" in page and "$1.00" in page  # the card's verification dollar
    assert "Blocked: abuse." in page and "Until our staff lift it." in page


def test_a_top_up_from_the_billing_page_reaches_the_wallet_and_the_ledger_and_a_double_submit_charges_once(payer_browser):
    browser, payer = payer_browser
    page = browser.get("/billing/")
    key = re.search(r'name="key" value="([^"]+)"', page.content.decode()).group(1)
    for _ in range(2):
        browser.post("/billing/top-up/", {"dollars": "25.00", "key": key})
    assert balance(payer) == 2600
    listed = text(browser.get("/billing/"))
    assert "$26.00" in listed and "$25.00" in listed


def test_a_bad_top_up_is_refused_with_its_reason_and_nothing_changes(payer_browser):
    browser, payer = payer_browser
    before = database_state()
    answer = text(browser.post("/billing/top-up/", {"dollars": "0.10", "key": "k"}, follow=True))
    assert "greater than or equal to 1" in answer
    assert changed_tables(before, database_state()) == []


def test_activation_asks_first_showing_what_is_charged_now_and_from_where(payer_browser):
    browser, payer = payer_browser
    confirm = text(browser.get("/billing/activate/?period=monthly"))
    assert "Charged now" in confirm and "From the wallet" in confirm and "From the card" in confirm
    assert "ending 4242" in confirm
    assert not Subscription.objects.filter(client=payer).exists()  # nothing before the confirmation
    done = text(browser.post("/billing/activate/", {"period": "monthly", "confirmed": "yes"}, follow=True))
    assert "PRO is active." in done
    assert Subscription.objects.get(client=payer).is_active
    pdf_number = re.search(r"/billing/invoices/([^/]+)/pdf/", browser.get("/billing/").content.decode()).group(1)
    pdf = browser.get(f"/billing/invoices/{pdf_number}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_another_clients_invoice_is_not_found(payer_browser):
    browser, payer = payer_browser
    other = verified("other-dash@example.com")
    services.attach_card(client=other, token="tok_visa", actor=other)
    services.activate_pro(client=other, period="monthly", actor=other)
    number = other.invoices.first().number
    assert browser.get(f"/billing/invoices/{number}/pdf/").status_code == 404


def test_a_refused_activation_shows_the_rules_sentence(client):
    unverified = make_client(email="unverified-dash@example.com")
    client.force_login(unverified)
    answer = text(client.post("/billing/activate/", {"period": "monthly", "confirmed": "yes"}, follow=True))
    assert "verif" in answer.lower()
    assert not Subscription.objects.filter(client=unverified).exists()


def test_deactivation_says_what_ends_and_when_before_it_happens(payer_browser):
    browser, payer = payer_browser
    services.activate_pro(client=payer, period="monthly", actor=payer)
    confirm = text(browser.get("/billing/deactivate/"))
    assert "PRO ends now" in confirm and "goes to your wallet" in confirm and "deleted with their subscribers after 30 days" in confirm
    assert Subscription.objects.get(client=payer).is_active
    refused = browser.post("/billing/deactivate/", {})
    assert refused.status_code == 200 and Subscription.objects.get(client=payer).is_active  # the box not ticked
    browser.post("/billing/deactivate/", {"confirm": "on"})
    assert not Subscription.objects.get(client=payer).is_active


def _rows(payer, start: int, count: int) -> None:
    """`count` more of every list the pages show: ledger entries, invoices, notices, privacy
    requests and API keys."""
    from django.utils import timezone

    from accounts.models import ApiKey, Notice
    from billing.models import Invoice
    from compliance.models import PrivacyRequest

    wallet, now = services.wallet_of(payer), timezone.now()
    LedgerEntry.objects.bulk_create([LedgerEntry(wallet=wallet, amount_cents=100, kind="top_up", description=f"row {n}", idempotency_key=f"r{n}")
                                     for n in range(start, start + count)])
    Invoice.objects.bulk_create([Invoice(client=payer, kind="invoice", series="INV", year=2026, sequence=1000 + n, number=f"INV-2026-{1000 + n:06d}",
                                         client_name=payer.name, client_email=payer.email, issued_at=now, due_at=now, total_cents=100, status="paid",
                                         reference=f"rows:{n}") for n in range(start, start + count)])
    Notice.objects.bulk_create([Notice(client=payer, kind=Notice.Kind.CARD_VERIFIED, event=f"rows:{n}", subject=f"Notice {n}", body="b")
                                for n in range(start, start + count)])
    PrivacyRequest.objects.bulk_create([PrivacyRequest(client=payer, kind="access", due_at=now.date()) for n in range(start, start + count)])
    ApiKey.objects.bulk_create([ApiKey(client=payer, name=f"key {n}", prefix=f"p{n:07d}", digest=f"h{n}") for n in range(start, start + count)])


@pytest.mark.parametrize("path", ["/", "/billing/", "/privacy/", "/account/", "/billing/activate/?period=yearly"])
def test_each_page_answers_in_the_same_number_of_queries_with_1_and_50_rows(payer_browser, path):
    browser, payer = payer_browser
    _rows(payer, 0, 1)
    with CaptureQueriesContext(connection) as one:
        assert browser.get(path).status_code == 200
    _rows(payer, 1, 49)
    with CaptureQueriesContext(connection) as fifty:
        assert browser.get(path).status_code == 200
    assert len(fifty) == len(one), [q["sql"][:120] for q in fifty.captured_queries]


def test_the_ledger_pages_by_a_signed_cursor_and_a_crafted_one_reads_the_first_page(payer_browser):
    browser, payer = payer_browser
    wallet = services.wallet_of(payer)
    LedgerEntry.objects.bulk_create([LedgerEntry(wallet=wallet, amount_cents=100, kind="top_up", description=f"entry-{n:02d}", idempotency_key=f"e{n}")
                                     for n in range(45)])
    first = browser.get("/billing/").content.decode()
    older = re.search(r'href="\?page=([^"]+)"', first).group(1)
    second = browser.get(f"/billing/?page={older}").content.decode()
    shown_first = set(re.findall(r"entry-\d\d", first))
    shown_second = set(re.findall(r"entry-\d\d", second))
    assert len(shown_first) == 20 and len(shown_second) == 20 and not shown_first & shown_second
    crafted = browser.get("/billing/?page=eyJub3QiOiJzaWduZWQifQ:1abc:xyz")
    assert crafted.status_code == 200 and set(re.findall(r"entry-\d\d", crafted.content.decode())) == shown_first


def test_privacy_exports_the_clients_data_and_takes_a_request(payer_browser):
    browser, payer = payer_browser
    export = browser.post("/privacy/", {"action": "export"})
    assert export.status_code == 200 and export["Content-Type"] == "application/json" and b"dash@example.com" in export.content
    browser.post("/privacy/", {"action": "request", "kind": "access", "details": "all of it"})
    assert "Access" in text(browser.get("/privacy/"))


def test_deleting_the_account_says_first_that_the_balance_is_not_refunded_and_a_wrong_password_changes_nothing(payer_browser):
    browser, payer = payer_browser
    page = text(browser.get("/privacy/"))
    assert "is not refunded" in page
    before = database_state()
    wrong = text(browser.post("/privacy/delete-account/", {"confirm": "on", "password": "not-it"}, follow=True))
    assert "The password is wrong." in wrong
    assert changed_tables(before, database_state()) == []
    done = browser.post("/privacy/delete-account/", {"confirm": "on", "password": PASSWORD})
    assert "Your account is deleted" in text(done)
    payer.refresh_from_db()
    assert payer.status == "deleted"
    assert browser.get("/").status_code == 302  # signed out


def test_every_page_needs_a_signed_in_client(client):
    for path in ("/", "/billing/", "/privacy/", "/billing/activate/?period=monthly", "/billing/deactivate/"):
        assert client.get(path).status_code == 302
