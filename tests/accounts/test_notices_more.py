"""NTF-1, the rest of what the client is told: each renewal and package change charged with its
invoice, blocked (with the reason and end) and unblocked, a new price ahead of the period it
applies to; a billing block is told once, by billing, not twice."""

import datetime

import pytest
from django.core import mail

from accounts import services as accounts
from accounts.models import Notice
from billing import services as billing
from billing.models import Invoice
from billing.policy import change_policy
from tests.billing.conftest import verified
from tests.billing.nights import D, failing_pro, run_night, subscribers, travel
from tests.factories import PASSWORD, make_client, make_project

pytestmark = pytest.mark.django_db


def told(client) -> list[tuple[str, str]]:
    return told_at(client.email)


@pytest.fixture
def staff(db):
    return make_client(email="staff@example.com")


def pro_paid_from_wallet(email: str, cents: int, staff) -> object:
    client = verified(email)
    billing.attach_card(client=client, token="tok_visa")
    billing.staff_credit(client=client, amount_cents=cents, reason="prepaid", actor=staff)
    with travel(D(2027, 6, 1)):
        billing.activate_pro(client=client, period="monthly")
    return client


def test_ntf1_a_renewal_paid_from_the_wallet_is_told_once_with_its_invoice(staff, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://app.example.com"
    client = pro_paid_from_wallet("renewed@example.com", 2_900, staff)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))
    invoice = Invoice.objects.get(client=client, reference__startswith="renewal:")
    [(subject, body)] = told(client)
    assert subject == f"PRO renewed: invoice {invoice.number}"
    assert "$10.00 was paid from your wallet." in body and f"https://app.example.com/billing/invoices/{invoice.number}/pdf/" in body
    assert "1 package of 1,000 subscribers" in body
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))  # a re-run of the same night renews nothing and tells nothing
    assert len(told(client)) == 1 and Notice.objects.filter(client=client, kind="renewal_charged").count() == 1


def test_ntf1_a_renewal_the_wallet_does_not_cover_says_it_is_due_and_collected_from_the_card(django_capture_on_commit_callbacks):
    client = failing_pro("short@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))
    renewal = next(body for subject, body in told(client) if subject.startswith("PRO renewed"))
    assert "Your wallet did not cover $10.00: it is due by" in renewal and "we collect it from your card" in renewal


def test_ntf1_packages_added_are_told_with_their_invoice(staff, django_capture_on_commit_callbacks):
    client = pro_paid_from_wallet("growing@example.com", 5_000, staff)
    subscribers(make_project(owner=client), 1_500)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 6, 10))
    invoice = Invoice.objects.get(client=client, reference__startswith="packages:")
    [(subject, body)] = told(client)
    assert subject == f"Packages added: invoice {invoice.number}"
    assert "need 2 packages of 1,000 subscribers now" in body and "was paid from your wallet" in body


def test_ntf1_a_staff_block_is_told_with_its_reason_and_end_and_the_unblock_too(staff, django_capture_on_commit_callbacks):
    client = verified("watched@example.com")
    mail.outbox.clear()
    until = datetime.datetime(2031, 3, 15, 12, tzinfo=datetime.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        accounts.block(client=client, reason="abuse", until=until, actor=staff, note="internal: reported by a partner")
    [(subject, body)] = told(client)
    assert subject == "Your account is blocked" and "Your account is blocked: Abuse." in body and "The block ends on March 15, 2031." in body
    assert "internal" not in body  # staff's note stays staff's
    with django_capture_on_commit_callbacks(execute=True):
        accounts.unblock(client=client, actor=staff, note="cleared")
    assert told(client)[-1][0] == "Your account is unblocked"


def test_ntf1_a_billing_block_is_told_by_billing_alone(django_capture_on_commit_callbacks):
    client = failing_pro("once@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))
        run_night(D(2027, 7, 3))
    subjects = [subject for subject, _ in told(client)]
    assert "Your account is blocked until the unpaid fees are paid" in subjects and "Your account is blocked" not in subjects


def test_ntf1_a_new_price_is_told_to_each_pro_client_before_its_next_period(staff, django_capture_on_commit_callbacks):
    pro = pro_paid_from_wallet("priced@example.com", 1_000, staff)
    free = verified("free@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        change_policy(actor=staff, package_monthly_cents=1_200)
    [(subject, body)] = told(pro)
    assert subject == "The price of a package changes from your next period"
    assert "From your next period, which starts on July 2, 2027, one package costs $12.00 instead of $10.00 (Monthly; ToU 13.3)." in body
    assert told(free) == []
    with django_capture_on_commit_callbacks(execute=True):
        change_policy(actor=staff, grace_days=5)  # no price changed: nobody told
    assert len(told(pro)) == 1


def test_ntf1_dea5_a_deleted_account_is_told_at_its_address_and_then_nothing_of_it_is_kept(client, staff):
    leaving = verified("leaving@example.com")
    mail.outbox.clear()
    client.force_login(leaving)
    client.post("/privacy/delete-account/", {"password": PASSWORD, "confirm": "on"})
    leaving.refresh_from_db()
    assert leaving.status == "deleted"
    [(subject, body)] = told_at("leaving@example.com")
    assert subject == "Your account is deleted" and "The wallet's balance is not refunded." in body
    assert not Notice.objects.filter(client=leaving).exists()  # erased with the account once mailed


def told_at(address: str) -> list[tuple[str, str]]:
    return [(m.subject.removeprefix("[Chatbot Platform] "), m.body) for m in mail.outbox if m.to == [address]]


def test_ntf1_a_ukrainian_client_is_told_in_ukrainian(staff, django_capture_on_commit_callbacks):
    client = pro_paid_from_wallet("ukr@example.com", 2_900, staff)
    accounts.set_language(client=client, language="uk")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))
    [(subject, body)] = told(client)
    assert subject.startswith("PRO подовжено: рахунок INV-2027-")
    assert "10,00 $ сплачено з вашого гаманця." in body and "1 пакет на 1 000 підписників" in body and "2 липня 2027" in body
