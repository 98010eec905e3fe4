"""The dashboard as a client uses it, in Chromium: sign up and verify by the emailed link, add a
card, activate PRO through its confirmation, see the charge in the ledger and download the
invoice; a blocked client sees why and until when and can still pay; deactivating says what ends
when; the address-book upload shows its progress and each refused line; switching to Ukrainian;
every page fits a 390-px phone."""

import re

import pytest
from django.core import mail

from accounts import services as accounts
from accounts.models import Client
from billing import services as billing
from billing.models import Subscription
from compliance.models import LegalDocument
from compliance.services import publish_document
from tests.billing.conftest import verified
from tests.browser.conftest import PHONE, sign_in
from tests.factories import PASSWORD, add_member, make_project, make_subscriber

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def documents(transactional_db):
    for kind in (LegalDocument.Kind.TERMS, LegalDocument.Kind.PRIVACY):
        publish_document(kind=kind, version="1", title=kind.label, body="The text.")


def test_sign_up_verify_by_the_emailed_link_add_a_card_activate_pro_and_download_the_invoice(visits, tmp_path):
    page = visits.open("/accounts/signup/")
    page.fill("input[name=name]", "Browser Client")
    page.fill("input[name=email]", "browser@example.com")
    page.fill("input[name=password1]", "a-long-browser-pass-42")
    if page.locator("input[name=password2]").count():
        page.fill("input[name=password2]", "a-long-browser-pass-42")
    page.check("input[name=accept_terms]")
    page.check("input[name=age_confirmed]")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    visits.open(re.sub(r"^https?://[^/]+", "", link))
    page.click("main button[type=submit]")  # allauth confirms on a POST
    page.wait_for_load_state()
    assert Client.objects.get(email="browser@example.com").email_verified_at is not None

    create_a_project_and_upload_an_address_book(visits, tmp_path)

    visits.open("/billing/")
    page.fill("#id_token", "tok_visa")
    page.click("text=Save card")
    page.wait_for_load_state()
    visits.check()
    assert "is verified" in page.content()
    page.click("text=Activate…")
    page.wait_for_load_state()
    visits.check()
    assert "Charged now" in page.content() and "From the card" in page.content()
    page.click("button:has-text('Activate and pay')")
    page.wait_for_load_state()
    visits.check()
    assert "PRO is active." in page.content()
    assert Subscription.objects.get(client__email="browser@example.com").is_active
    assert "PRO activated" in page.locator("text=Ledger").locator("..").inner_text() or "PRO" in page.content()
    with page.expect_download() as download:
        page.click("text=PDF")
    assert download.value.suggested_filename.endswith(".pdf")


def create_a_project_and_upload_an_address_book(visits, tmp_path) -> None:
    """PRJ-5 in the browser: a project, an address book, a CSV sent with its progress bar, the
    refused lines' reasons shown in place."""
    from projects.models import Contact

    page = visits.open("/projects/")
    page.fill("#id_name", "Browser bot")
    page.click("button:has-text('Create project')")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    visits.check()
    page.fill("#id_book_name", "Fair visitors")
    page.click("button:has-text('Create')")
    page.wait_for_url(re.compile(r"/address-books/\d+/$"))
    visits.check()
    upload = tmp_path / "contacts.csv"
    upload.write_text("name,email,phone\nAnn,ann@example.org,\nBob,not-an-email,\n" + "".join(f"P{n},p{n}@example.org,\n" for n in range(2000)))
    page.set_input_files("#id_file", str(upload))
    page.check("#id_consent_confirmed")
    # What the bar showed at each of htmx's progress reports (after upload.js has set it).
    page.evaluate("""window.shown = []; document.addEventListener("htmx:xhr:progress", () => {
        const bar = document.querySelector("#upload progress"); window.shown.push([bar.hidden, bar.value]); });""")
    page.click("#upload button:has-text('Upload')")
    page.wait_for_selector("#upload >> text=2001 contacts added.")
    shown = page.evaluate("window.shown")
    assert shown and shown[-1] == [False, 100], shown
    assert "The email address is not valid." in page.locator("#upload").inner_text()
    visits.check()
    assert Contact.objects.filter(address_book__project__name="Browser bot").count() == 2001


def test_switch_to_ukrainian_and_the_dashboard_and_the_account_follow(visits):
    client = verified("switch@example.com")
    sign_in(visits, client.email, PASSWORD)
    page = visits.open("/billing/")
    page.select_option("header select[name=language]", "uk")
    page.click("header button:has-text('Change language')")
    page.wait_for_load_state()
    visits.check()
    assert page.locator("html").get_attribute("lang") == "uk"
    assert page.url.endswith("/billing/") and "Гаманець" in page.content()
    client.refresh_from_db()
    assert client.language == "uk"
    page = visits.open("/projects/")
    assert "Створити проєкт" in page.content()


def test_a_blocked_client_sees_why_and_until_when_and_can_still_top_up(visits):
    client = verified("blocked-browser@example.com")
    billing.attach_card(client=client, token="tok_visa", actor=client)
    accounts.block(client=client, reason="abuse", note="spam")
    sign_in(visits, client.email, PASSWORD)
    page = visits.open("/")
    assert "Blocked: abuse." in page.content() and "Until our staff lift it." in page.content()
    page = visits.open("/billing/")
    page.fill("#id_dollars", "12.50")
    page.click("text=Top up from the card")
    page.wait_for_load_state()
    visits.check()
    assert "$13.50" in page.content()  # $1 from the card's verification and the top-up


def test_deactivating_says_what_ends_and_when(visits):
    client = verified("leaving-browser@example.com")
    billing.attach_card(client=client, token="tok_visa", actor=client)
    billing.activate_pro(client=client, period="monthly", actor=client)
    sign_in(visits, client.email, PASSWORD)
    visits.open("/billing/")
    page = visits.page
    page.click("text=Deactivate PRO…")
    page.wait_for_load_state()
    visits.check()
    assert "PRO ends now" in page.content() and "after 30 days" in page.content()
    page.check("input[name=confirm]")
    page.click("button:has-text('Deactivate PRO')")
    page.wait_for_load_state()
    assert "PRO has ended" in page.content()
    assert not Subscription.objects.get(client=client).is_active


@pytest.mark.parametrize("path", ["/", "/billing/", "/privacy/", "/account/", "/projects/", "/projects/{project}/"])
def test_each_page_fits_a_phone(visits, path):
    client = verified(f"phone{len(path)}@example.com")
    billing.attach_card(client=client, token="tok_visa", actor=client)
    project = make_project(owner=client)
    make_subscriber(project=project, email="a.rather.long.address.for.a.phone@example.org", phone="+4915112345678")
    sign_in(visits, client.email, PASSWORD)
    visits.page.set_viewport_size(PHONE)
    visits.open(path.format(project=project.pk))  # checks: no sideways scroll, no serious accessibility violation


def test_a_participant_sees_only_the_sections_it_was_given(visits):
    owner = verified("owner-browser@example.com")
    participant = verified("participant-browser@example.com")
    project = make_project(owner=owner, name="Shared bot")
    make_subscriber(project=project, email="visible@example.org")
    add_member(project=project, client=participant, subscribers="view")
    sign_in(visits, participant.email, PASSWORD)
    page = visits.open("/projects/")
    page.click("text=Shared bot")
    page.wait_for_load_state()
    visits.check()
    content = page.content()
    assert "visible@example.org" in content
    assert "Add a subscriber" not in content and "Invite a participant" not in content and "Settings" not in content


def test_subscribers_are_found_and_unsubscribed_in_place(visits):
    owner = verified("inplace@example.com")
    project = make_project(owner=owner, name="In place")
    for n in range(3):
        make_subscriber(project=project, email=f"person{n}@example.org")
    sign_in(visits, owner.email, PASSWORD)
    page = visits.open(f"/projects/{project.pk}/")
    page.fill("#id_q", "person1@example.org")
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r"\?q=person1"))
    page.wait_for_selector("#subscribers >> text=person1@example.org")
    assert page.locator("#subscribers tbody tr").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#subscribers button:has-text('Unsubscribe')")
    page.wait_for_selector("#subscribers >> text=Unsubscribed")
    visits.check()
    from projects.models import Subscriber

    assert Subscriber.objects.get(email="person1@example.org").status == "unsubscribed"


def test_the_main_pages_at_desktop_and_phone_width_for_the_readmes_screens(visits):
    """The overview, billing and a project page of a PRO client with a blocked day, checked at both
    widths; their screenshots are left in test-artifacts/screens/ (docs/screens/ holds a copy)."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.browser.conftest import ARTIFACTS

    client = verified("screens@example.com")
    billing.attach_card(client=client, token="tok_visa", actor=client)
    billing.top_up(client=client, amount_cents=4200, idempotency_key="screens")
    billing.activate_pro(client=client, period="monthly", actor=client)
    project = make_project(owner=client, name="Spring sale bot")
    for n in range(12):
        make_subscriber(project=project, email=f"reader{n}@example.org", name=f"Reader {n}")
    accounts.block(client=client, reason="funnel_loop", until=timezone.now() + timedelta(days=1), note="loop")
    sign_in(visits, client.email, PASSWORD)
    visits.page.goto(visits.base_url + "/")
    visits.page.click("text=Save my choice")  # the cookie banner answered, as a client would
    (ARTIFACTS / "screens").mkdir(parents=True, exist_ok=True)
    for language in ("en", "uk"):
        Client.objects.filter(pk=client.pk).update(language=language)
        for name, path in (("overview", "/"), ("billing", "/billing/"), ("project", f"/projects/{project.pk}/")):
            for width, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", PHONE)):
                visits.page.set_viewport_size(viewport)
                visits.open(path).screenshot(path=str(ARTIFACTS / "screens" / f"{name}-{width}-{language}.png"), full_page=True)
