"""CMP-2 for a person who is no client: staff file a subscriber's erasure request from the admin by
email or phone, and fulfilling it anonymises the person in every project and removes it from
every address book. And CMP-2's hold: an open payment dispute keeps an erasure waiting."""

import pytest

from accounts import services as accounts
from billing import services as billing
from compliance.models import AuditLog, PrivacyRequest
from compliance.services import decide_privacy_request
from projects import services as projects
from projects.models import Contact, Subscriber
from tests.compliance.test_erasure import rows_mentioning
from tests.factories import PASSWORD, make_client, make_project, make_subscriber
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db
EMAIL, PHONE = "yolanda.subject@example.org", "+4915112345678"


@pytest.fixture
def subject(db):
    """The person in two clients' projects (by email, by phone) and in an address book."""
    first, second = make_client(email="first@example.com"), make_client(email="second@example.com")
    one, other = make_project(owner=first), make_project(owner=second, name="Other bot")
    make_subscriber(project=one, email=EMAIL, name="Yolanda Subject")
    make_subscriber(project=other, phone=PHONE, name="Yolanda S.")
    make_subscriber(project=other, email="someone.else@example.org")
    book = projects.create_address_book(project=one, actor=first, name="Leads")
    Contact.objects.create(address_book=book, email=EMAIL, name="Yolanda", consent_source="fair", created_at=book.created_at)
    return one, other


def test_cmp2_staff_file_a_subscribers_erasure_in_the_admin_and_fulfilling_it_erases_the_person_everywhere(client, staff, subject):
    client.force_login(staff)
    response = client.post("/admin/compliance/privacyrequest/add/", {"kind": "erasure", "subject_email": EMAIL.upper(), "subject_phone": PHONE,
                                                                      "details": "Asked by phone."})
    assert response.status_code == 302
    request = PrivacyRequest.objects.get()
    assert (request.client, request.subject_email, request.subject_phone) == (None, EMAIL, PHONE)
    assert AuditLog.objects.filter(action="privacy.request_received", actor=staff).exists()

    decide_privacy_request(request=request, fulfilled=True, note="Done.", actor=staff)

    assert rows_mentioning(EMAIL, PHONE, "Yolanda") == []
    erased = Subscriber.objects.filter(consent_source="(erased)")
    assert erased.count() == 2 and set(erased.values_list("status", flat=True)) == {"unsubscribed"}
    assert Subscriber.objects.filter(email="someone.else@example.org", status="active").exists()  # nobody else
    assert not Contact.objects.exists()
    entry = AuditLog.objects.get(action="privacy.subject_erased")
    assert entry.details == {"subscribers": 2, "contacts": 1}
    request.refresh_from_db()
    assert request.status == "fulfilled" and "2 subscribers erased" in request.details


@pytest.mark.parametrize(("email", "phone", "field"), [("", "", "subject_email"), ("not-an-email", "", "subject_email"),
                                                        ("", "12345", "subject_phone")])
def test_cmp2_a_request_with_no_way_to_find_the_person_is_refused_on_the_form_and_nothing_is_stored(client, staff, subject, email, phone, field):
    client.force_login(staff)
    before = database_state()
    response = client.post("/admin/compliance/privacyrequest/add/", {"kind": "erasure", "subject_email": email, "subject_phone": phone})
    assert response.status_code == 200 and field in response.context["adminform"].form.errors
    assert changed_tables(before, database_state()) == []


def test_cmp2_the_subscriber_list_files_an_erasure_request_for_the_person(client, staff, subject):
    client.force_login(staff)
    chosen = Subscriber.objects.get(email=EMAIL)
    page = client.post("/admin/projects/subscriber/", {"action": "file_erasure_request", "_selected_action": [chosen.pk]})
    assert EMAIL in page.content.decode() and not PrivacyRequest.objects.exists()  # the confirmation page first
    client.post("/admin/projects/subscriber/", {"action": "file_erasure_request", "_selected_action": [chosen.pk], "post": "yes"})
    request = PrivacyRequest.objects.get()
    assert (request.kind, request.subject_email, request.status) == ("erasure", EMAIL, "open")


def test_cmp2_an_open_dispute_keeps_a_deleted_accounts_erasure_waiting_until_it_is_closed(staff):
    from tests.billing.conftest import verified

    client = verified("disputing@example.com")
    billing.attach_card(client=client, token="tok_visa", actor=client)
    billing.top_up(client=client, amount_cents=2000, idempotency_key="disputed")
    from billing.models import PaymentAttempt

    payment = PaymentAttempt.objects.get(client=client, amount_cents=2000)
    dispute = billing.open_dispute(client=client, payment=payment, amount_cents=2000, reference="CB-77", actor=staff)

    accounts.delete_account(client=client, password=PASSWORD, actor=client)

    request = PrivacyRequest.objects.get(client=client, kind="erasure")
    assert request.status == "open" and "dispute is open" in request.details
    client.refresh_from_db()
    assert client.email == "disputing@example.com"  # kept while the dispute is open
    from core.exceptions import RuleRefused

    with pytest.raises(RuleRefused, match="dispute is open"):
        decide_privacy_request(request=request, fulfilled=True, note="", actor=staff)
    assert PrivacyRequest.objects.get(pk=request.pk).status == "open"  # still held

    billing.close_dispute(dispute=dispute, actor=staff, outcome="Won: the charge stands.")
    decide_privacy_request(request=request, fulfilled=True, note="Dispute closed.", actor=staff)

    assert PrivacyRequest.objects.get(pk=request.pk).status == "fulfilled"
    client.refresh_from_db()
    assert client.email != "disputing@example.com"


def test_cmp2_a_dispute_names_the_clients_own_payment(staff, client_account, other_account):
    from django.core.exceptions import ValidationError

    from tests.billing.conftest import verified

    payer = verified("payer-d@example.com")
    billing.attach_card(client=payer, token="tok_visa", actor=payer)
    from billing.models import Dispute, PaymentAttempt

    with pytest.raises(ValidationError):
        billing.open_dispute(client=client_account, payment=PaymentAttempt.objects.filter(client=payer).first(), amount_cents=100, actor=staff)
    with pytest.raises(ValidationError):
        billing.open_dispute(client=client_account, amount_cents=0, actor=staff)
    assert not Dispute.objects.exists()
