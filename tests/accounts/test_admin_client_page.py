"""The client's page in the staff console (issue 16): its whole story, each item a link, in a
constant number of queries; and blocking from it (ACC-3), confirmed first, with a reason."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as accounts
from accounts.audit_actions import Audit
from accounts.models import Client, Restriction
from billing import invoicing, ledger
from billing import services as billing
from billing.models import Invoice, LedgerEntry
from compliance.audit import record
from compliance.models import AuditLog, Complaint, PrivacyRequest
from compliance.services import receive_privacy_request
from core.money import dollars
from tests.factories import make_project, make_subscriber

pytestmark = pytest.mark.django_db

CLIENTS = "/admin/accounts/client/"


def page_of(client) -> str:
    return f"{CLIENTS}{client.pk}/change/"


def block_page_of(client) -> str:
    return f"{CLIENTS}{client.pk}/block/"


def on_pro_with_card(client) -> None:
    """A verified email, a verified card ($1 in the wallet, WAL-4) and PRO monthly (PER-2)."""
    accounts.mark_email_verified(client=client, email=client.email)
    client.refresh_from_db()
    billing.attach_card(client=client, token="tok_visa", actor=client)
    billing.activate_pro(client=client, period="monthly", actor=client)
    client.refresh_from_db()


def fill(client, n: int, *, label: str) -> None:
    """n invoices of $12.00, ledger entries, projects (one subscriber each), API keys and audit rows."""
    on_pro_with_card(client)
    wallet = ledger.wallet_of(client)
    for i in range(n):
        invoicing.issue(client=client, kind=Invoice.Kind.INVOICE, lines=[(f"{label} fee {i}", 1200)], reference=f"{label}:{i}")
        ledger.post(wallet, amount=250, kind=LedgerEntry.Kind.TOP_UP, description=f"{label} top-up {i}", reference=f"{label}:{i}", key=f"{label}:{i}")
        project = make_project(owner=client, name=f"{label} bot {i}")
        make_subscriber(project=project, email=f"{label}-{i}@subscribers.example.com")
        accounts.create_api_key(client=client, name=f"{label}-key-{i}", actor=client)
        record(action=Audit.NAME_CHANGED, client=client, target=client, details={"n": i})
    receive_privacy_request(client=client, kind=PrivacyRequest.Kind.ACCESS)
    today = timezone.localdate()
    Complaint.objects.create(complainant=client, kind=Complaint.Kind.SPAM, identification=f"{label} complainant", description="spam",
                             period_start=today, period_end=today, due_at=today + datetime.timedelta(days=14))


def staff_with(*codenames: str, email: str = "support.person@example.com") -> Client:
    member = Client.objects.create_user(email=email, password="x-pass-12345", name="Support", is_staff=True)
    member.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames))
    return Client.objects.get(pk=member.pk)  # the permission cache fresh


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


# --- the page -----------------------------------------------------------------------------------


def test_issue16_acc3_wal7_the_client_page_tells_its_whole_story_with_links(staff_browser, client_account):
    """ACC-3, TAR, WAL-1, WAL-6, WAL-7, PRJ-1, ACC-5, CMP-2, CMP-4, CMP-5: each section with the client's own data, each item linked."""
    fill(client_account, 1, label="ada")
    accounts.block(client=client_account, reason="abuse", note="Phishing links in the welcome block.")
    page = staff_browser.get(page_of(client_account))
    assert page.status_code == 200
    html = page.content.decode()
    pk = client_account.pk
    # state and restrictions, with the reason and the end
    assert "State and restrictions" in html and "Block: Abuse" in html and "for good (until staff lift it)" in html
    assert "Phishing links in the welcome block." in html and f"/admin/accounts/restriction/?client__id__exact={pk}" in html
    restriction = Restriction.objects.get(client=client_account)
    assert f"/admin/accounts/restriction/{restriction.pk}/change/" in html
    # tariff, period, packages and the next renewal (WAL-7), in dollars
    subscription = client_account.subscription
    assert "Tariff and next renewal" in html and "PRO" in html and "1 × $10.00" in html
    assert f"/admin/billing/subscription/{subscription.pk}/change/" in html and "Next renewal" in html and "from the card" in html
    # the wallet: balance and the last entries; cards
    balance = billing.balance_cents(ledger.wallet_of(client_account))
    assert "Balance</dt>" in html and dollars(balance) in html
    entry = LedgerEntry.objects.filter(wallet__client=client_account, kind=LedgerEntry.Kind.TOP_UP).get()
    assert "$2.50 Top-up" in html and f"/admin/billing/ledgerentry/{entry.pk}/change/" in html
    assert f"/admin/billing/ledgerentry/?wallet__id__exact={entry.wallet_id}" in html
    card = client_account.cards.get()
    assert str(card) in html and f"/admin/billing/card/{card.pk}/change/" in html and f"/admin/billing/card/?client__id__exact={pk}" in html
    # invoices in dollars with their status
    invoice = Invoice.objects.get(client=client_account, reference="ada:0")
    assert invoice.number in html and "$12.00" in html and f"/admin/billing/invoice/{invoice.pk}/change/" in html
    assert f"/admin/billing/invoice/?client__id__exact={pk}" in html and "Open" in html
    # projects with their active subscribers, linked to the subscriber list
    project = client_account.owned_projects.get()
    assert "ada bot 0" in html and "1 active subscriber" in html and f"/admin/projects/project/{project.pk}/change/" in html
    assert f"/admin/projects/subscriber/?project__id__exact={project.pk}" in html and f"/admin/projects/project/?owner__id__exact={pk}" in html
    # API keys
    key = client_account.api_keys.get(name="ada-key-0")
    assert f"/admin/accounts/apikey/{key.pk}/change/" in html and f"/admin/accounts/apikey/?client__id__exact={pk}" in html
    # privacy requests, complaints, legal acceptances
    request = PrivacyRequest.objects.get(client=client_account)
    complaint = Complaint.objects.get(complainant=client_account)
    assert f"/admin/compliance/privacyrequest/{request.pk}/change/" in html and f"/admin/compliance/complaint/{complaint.pk}/change/" in html
    assert f"/admin/compliance/complaint/?complainant__id__exact={pk}" in html and "Terms of Use" in html
    # the audit trail about the client
    blocked = AuditLog.objects.filter(client=client_account, action="account.blocked").get()
    assert f"/admin/compliance/auditlog/{blocked.pk}/change/" in html and f"/admin/compliance/auditlog/?client__id__exact={pk}" in html
    # and the Block… page, for staff who may block
    assert f'href="{block_page_of(client_account)}"' in html


def test_issue16_the_see_all_links_open_the_filtered_lists(staff_browser, client_account, other_account):
    """CMP-5, WAL-6: each "see all" link is a change list the admin accepts, filtered to the client."""
    fill(client_account, 1, label="ada")
    accounts.block(client=client_account, reason="abuse", note="Spam.")
    pk = client_account.pk
    wallet = ledger.wallet_of(client_account)
    for url in [f"/admin/billing/invoice/?client__id__exact={pk}", f"/admin/billing/ledgerentry/?wallet__id__exact={wallet.pk}",
                f"/admin/projects/project/?owner__id__exact={pk}", f"/admin/compliance/auditlog/?client__id__exact={pk}",
                f"/admin/accounts/restriction/?client__id__exact={pk}", f"/admin/compliance/complaint/?complainant__id__exact={pk}"]:
        response = staff_browser.get(url)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count >= 1, url


def test_issue16_another_clients_data_never_appears(staff_browser, client_account, other_account):
    """TAR-7: one client's page shows nothing of another's money, projects, keys or audit."""
    fill(client_account, 1, label="ada")
    fill(other_account, 1, label="bo")
    invoicing.issue(client=other_account, kind=Invoice.Kind.INVOICE, lines=[("Bo's own fee", 7700)], reference="bo:special")
    html = staff_browser.get(page_of(client_account)).content.decode()
    assert "ada bot 0" in html and "$12.00" in html
    for theirs in ["bo bot", "bo-key", "bo top-up", "$77.00", "bo@example.com", "bo complainant"]:
        assert theirs not in html, theirs
    assert f'client__id__exact={other_account.pk}"' not in html and f'/admin/accounts/client/{other_account.pk}/' not in html


def test_issue16_the_page_answers_in_as_many_queries_for_30_rows_as_for_1(staff_browser, client_account, other_account):
    """CMP-5, WAL-1: the last rows only, each list one query: 1 and 30 invoices, ledger entries, projects, keys and audit rows cost the same."""
    fill(client_account, 1, label="few")
    fill(other_account, 30, label="many")
    staff_browser.get(page_of(client_account))  # warm: content types, the session
    with CaptureQueriesContext(connection) as few:
        assert staff_browser.get(page_of(client_account)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        page = staff_browser.get(page_of(other_account))
    assert page.status_code == 200
    html = page.content.decode()
    assert "many bot 29" in html and "many bot 19" not in html  # the last 10 only
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)


def test_issue16_wal1_a_client_without_a_wallet_reads_zero_and_gets_none_made(staff_browser, client_account):
    """WAL-1: the page only reads: no wallet row is made by looking."""
    from billing.models import Wallet

    html = staff_browser.get(page_of(client_account)).content.decode()
    assert "$0.00" in html and "never on PRO" in html and "No invoice." in html
    assert not Wallet.objects.filter(client=client_account).exists()


def test_issue16_staff_without_billing_views_see_no_billing_panel(client, client_account):
    """Each panel shows to staff who may view what it reads."""
    client.force_login(staff_with("view_client"))
    html = client.get(page_of(client_account)).content.decode()
    assert "State and restrictions" in html
    assert "Wallet and cards" not in html and "Invoices and credit notes" not in html and "Audit trail" not in html
    assert block_page_of(client_account) not in html


# --- the Block… page ----------------------------------------------------------------------------


def test_acc3_the_block_page_is_refused_without_block_client(client, client_account):
    client.force_login(staff_with("view_client", "change_client"))
    assert client.get(block_page_of(client_account)).status_code == 403
    assert client.post(block_page_of(client_account), {"reason": "abuse", "note": "Spam."}).status_code == 403
    client_account.refresh_from_db()
    assert client_account.status == "active" and not Restriction.objects.filter(client=client_account).exists()


def test_acc3_the_block_page_says_what_happens_and_to_whom(client, client_account):
    client.force_login(staff_with("view_client", "block_client"))
    page = client.get(block_page_of(client_account))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Block ada@example.com" in html and "Ada Client &lt;ada@example.com&gt; — now active" in html
    assert "The client is told by email" in html and "Why (kept in the history and the audit log)" in html
    client_account.refresh_from_db()
    assert client_account.status == "active"


@pytest.mark.parametrize("data, error", [
    ({"reason": "abuse", "note": ""}, "Give a reason (plain text)."),
    ({"reason": "abuse", "note": "   "}, "Give a reason (plain text)."),
    ({"reason": "", "note": "Phishing."}, "Choose a block reason (and an end, or none for good)."),
    ({"reason": "nonsense", "note": "Phishing."}, "Select a valid choice."),
    ({"reason": "abuse", "note": "Phishing.", "until": "2001-01-01 10:00"}, "The end of a block must lie in the future."),
])
def test_acc3_the_block_page_without_a_reason_asks_again_and_changes_nothing(client, client_account, data, error):
    client.force_login(staff_with("view_client", "block_client"))
    audit_before = AuditLog.objects.count()
    response = client.post(block_page_of(client_account), data)
    assert response.status_code == 200 and error in response.content.decode()
    client_account.refresh_from_db()
    assert client_account.status == "active"
    assert not Restriction.objects.filter(client=client_account).exists() and AuditLog.objects.count() == audit_before


def test_acc3_ntf1_the_block_page_blocks_with_the_reason_and_end(client, client_account, mailbox, django_capture_on_commit_callbacks):
    member = staff_with("view_client", "block_client")
    client.force_login(member)
    until = (timezone.localtime() + datetime.timedelta(days=3)).replace(second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(block_page_of(client_account), {"reason": "abuse", "until": until.strftime("%Y-%m-%d %H:%M"),
                                                               "note": "Phishing links in the welcome block."}, follow=True)
    assert response.redirect_chain[-1][0] == page_of(client_account)
    assert "Blocked 1 client for abuse, until" in response.content.decode()
    client_account.refresh_from_db()
    assert client_account.status == "blocked" and client_account.block_reason == "abuse" and client_account.blocked_until == until
    restriction = Restriction.objects.get(client=client_account)
    assert (restriction.kind, restriction.reason, restriction.ends_at, restriction.set_by) == ("block", "abuse", until, member)
    assert restriction.note == "Phishing links in the welcome block."
    entry = AuditLog.objects.get(action="account.blocked", client=client_account)
    assert entry.actor == member and entry.details["note"] == "Phishing links in the welcome block."
    assert [m.subject for m in mailbox if m.to == ["ada@example.com"]][-1].endswith("Your account is blocked")


# --- the list's actions, confirmed first --------------------------------------------------------


def test_acc3_the_block_action_asks_first_and_changes_nothing_until_confirmed(staff_browser, client_account, other_account):
    page = staff_browser.post(CLIENTS, {"action": "block_clients", "_selected_action": [client_account.pk, other_account.pk], "reason": "abuse"})
    html = page.content.decode()
    assert page.status_code == 200 and "Block clients" in html
    assert "Ada Client &lt;ada@example.com&gt; — now active" in html and "Bo Other &lt;bo@example.com&gt; — now active" in html
    assert '<option value="abuse" selected>' in html  # the reason beside the menu carried over
    missing = staff_browser.post(CLIENTS, {"action": "block_clients", "_selected_action": [client_account.pk], "post": "yes", "reason": "abuse", "note": ""})
    assert missing.status_code == 200 and "Give a reason (plain text)." in missing.content.decode()
    assert Client.objects.filter(status="blocked").count() == 0 and not Restriction.objects.exists()


def test_acc3_the_block_action_confirmed_blocks_and_answers_in_a_sentence(staff_browser, client_account, other_account, staff):
    done = staff_browser.post(CLIENTS, {"action": "block_clients", "_selected_action": [client_account.pk, other_account.pk], "post": "yes",
                                        "reason": "staff", "until": "", "note": "Chargeback fraud."}, follow=True)
    assert "Blocked 2 clients for staff decision, for good: " in done.content.decode()
    assert set(Client.objects.filter(status="blocked").values_list("email", flat=True)) == {"ada@example.com", "bo@example.com"}
    assert AuditLog.objects.filter(action="account.blocked", actor=staff).count() == 2
    assert set(Restriction.objects.values_list("note", flat=True)) == {"Chargeback fraud."}


def test_acc3_the_unblock_action_asks_first_then_lifts_only_the_reason_chosen(staff_browser, client_account, staff):
    accounts.block(client=client_account, reason="abuse", actor=staff)
    accounts.block(client=client_account, reason="billing")
    page = staff_browser.post(CLIENTS, {"action": "unblock_clients", "_selected_action": [client_account.pk], "reason": "billing"})
    assert page.status_code == 200 and "blocked for unpaid fees (for good)" in page.content.decode()
    assert Restriction.objects.filter(lifted_at__isnull=True).count() == 2
    done = staff_browser.post(CLIENTS, {"action": "unblock_clients", "_selected_action": [client_account.pk], "post": "yes", "reason": "billing",
                                        "note": "Paid by bank transfer."}, follow=True)
    assert "Lifted the block for unpaid fees of 1 client: ada@example.com." in done.content.decode()
    assert list(Restriction.objects.filter(lifted_at__isnull=True).values_list("reason", flat=True)) == ["abuse"]
    assert Restriction.objects.get(reason="billing").lift_note == "Paid by bank transfer."
