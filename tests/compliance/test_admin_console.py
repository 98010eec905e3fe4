"""The compliance part of the staff console (issue 16): every action first shows a page that says
what will happen and to whom, asks a reason where a rule wants one, and then does it through the
service (audited, CMP-5) and says so in one sentence. Fulfilling or refusing a privacy request
needs `compliance.fulfil_privacy_request` (CMP-2); complaints (CMP-4), incidents (CMP-6), legal
documents (CMP-1) and holidays go the same way. Lists show due dates and are searchable."""

import datetime

import pytest
from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import Permission
from django.utils import timezone

from compliance.audit_actions import Audit
from compliance.models import AuditLog, Complaint, Holiday, Incident, LegalDocument, LegalNotice, PrivacyRequest
from compliance.services import receive_complaint, receive_privacy_request
from tests.factories import make_client, make_project

pytestmark = pytest.mark.django_db

REQUESTS = "/admin/compliance/privacyrequest/"
COMPLAINTS = "/admin/compliance/complaint/"
INCIDENTS = "/admin/compliance/incident/"
DOCUMENTS = "/admin/compliance/legaldocument/"
HOLIDAYS = "/admin/compliance/holiday/"


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def staff_with(*perms: str):
    """A staff member holding only these permissions ("app.codename")."""
    person = make_client(email=f"staff-{len(perms)}-{'-'.join(p.split('.')[1] for p in perms)[:60]}@example.com", name="Limited Staff")
    person.is_staff = True
    person.save()
    for dotted in perms:
        app_label, codename = dotted.split(".")
        person.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return person


def act(browser, url: str, action: str, pks: list, **data):
    return browser.post(url, {"action": action, "_selected_action": pks, **data}, follow=True)


def sentences(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def offered(browser, url: str) -> set[str]:
    form = browser.get(url).context["action_form"]  # None when no action is offered at all
    return {name for name, _label in form.fields["action"].choices if name} if form is not None else set()


# --- privacy requests (CMP-2) ----------------------------------------------------------------------


def test_cmp2_without_the_fulfil_permission_the_actions_are_not_offered_and_a_posted_one_changes_nothing(client, client_account):
    request = receive_privacy_request(client=client_account, kind="access")
    client.force_login(staff_with("compliance.view_privacyrequest", "compliance.change_privacyrequest"))
    actions = offered(client, REQUESTS)
    assert "fulfil" not in actions and "refuse" not in actions and "extend_one_month" in actions
    act(client, REQUESTS, "fulfil", [request.pk], post="yes")
    act(client, REQUESTS, "refuse", [request.pk], post="yes", reason="No.")
    request.refresh_from_db()
    assert request.status == "open" and not AuditLog.objects.filter(action__startswith="privacy.request_f").exists()


def test_cmp2_fulfilling_an_access_request_says_what_and_to_whom_then_emails_the_export(staff_browser, staff, client_account, mailbox,
                                                                                       django_capture_on_commit_callbacks):
    request = receive_privacy_request(client=client_account, kind="access")
    page = act(staff_browser, REQUESTS, "fulfil", [request.pk])
    text = page.content.decode()
    assert page.status_code == 200 and "Fulfil privacy requests" in text
    assert "ada@example.com" in text and "JSON document" in text and "emailed to them" in text
    request.refresh_from_db()
    assert request.status == "open" and mailbox == []  # nothing before confirming
    with django_capture_on_commit_callbacks(execute=True):
        done = act(staff_browser, REQUESTS, "fulfil", [request.pk], post="yes")
    request.refresh_from_db()
    assert request.status == "fulfilled" and request.decided_by == staff
    assert AuditLog.objects.filter(action=Audit.PRIVACY_REQUEST_DECIDED["fulfilled"], actor=staff, target_id=str(request.pk)).exists()
    assert sentences(done) == [f"Fulfilled 1 request: {request}."]
    assert [m.to for m in mailbox] == [["ada@example.com"]] and "/privacy/download/" in mailbox[0].body


def test_cmp2_a_refusal_without_a_reason_changes_nothing_and_asks_again(staff_browser, client_account):
    request = receive_privacy_request(client=client_account, kind="objection")
    first = act(staff_browser, REQUESTS, "refuse", [request.pk])
    assert "Refuse privacy requests" in first.content.decode() and "Ada Client" in first.content.decode()
    again = act(staff_browser, REQUESTS, "refuse", [request.pk], post="yes", reason="   ")
    assert again.status_code == 200 and again.context["reason_form"].errors
    assert b"errornote" in again.content
    request.refresh_from_db()
    assert request.status == "open" and request.staff_note == ""
    assert not AuditLog.objects.filter(action=Audit.PRIVACY_REQUEST_DECIDED["refused"]).exists()


def test_cmp2_a_refusal_with_its_reason_is_kept_on_the_request_and_audited(staff_browser, staff, client_account):
    request = receive_privacy_request(client=client_account, kind="objection")
    done = act(staff_browser, REQUESTS, "refuse", [request.pk], post="yes", reason="We send you no marketing at all.")
    request.refresh_from_db()
    assert (request.status, request.staff_note, request.decided_by) == ("refused", "We send you no marketing at all.", staff)
    assert AuditLog.objects.filter(action=Audit.PRIVACY_REQUEST_DECIDED["refused"], actor=staff, target_id=str(request.pk)).exists()
    assert sentences(done) == [f"Refused 1 request, with your reason: {request}."]


def test_cmp2_extending_needs_a_reason_and_moves_the_due_date_once_within_three_months(staff_browser, staff, client_account):
    request = receive_privacy_request(client=client_account, kind="access")
    due = request.due_at
    page = act(staff_browser, REQUESTS, "extend_one_month", [request.pk])
    assert str(due + relativedelta(months=1)) in page.content.decode()
    act(staff_browser, REQUESTS, "extend_one_month", [request.pk], post="yes", reason="")
    request.refresh_from_db()
    assert request.due_at == due  # no reason, no extension
    done = act(staff_browser, REQUESTS, "extend_one_month", [request.pk], post="yes", reason="The export needs the archive.")
    request.refresh_from_db()
    assert request.due_at == due + relativedelta(months=1) and request.extension_reason == "The export needs the archive."
    assert AuditLog.objects.filter(action=Audit.PRIVACY_REQUEST_EXTENDED, actor=staff).count() == 1
    assert sentences(done)[0].startswith("Extended 1 request by 1 month(s)")
    refused = act(staff_browser, REQUESTS, "extend_two_months", [request.pk], post="yes", reason="Even longer.")
    request.refresh_from_db()
    assert request.due_at == due + relativedelta(months=1)  # past three months after receipt: refused
    assert any("two months at most" in s for s in sentences(refused))


def test_cmp2_the_request_list_shows_and_sorts_by_due_date_with_titled_rows_and_search(staff_browser, client_account, other_account):
    later = receive_privacy_request(client=client_account, kind="access")
    PrivacyRequest.objects.filter(pk=later.pk).update(due_at=later.due_at + datetime.timedelta(days=20))
    sooner = receive_privacy_request(client=other_account, kind="erasure")
    page = staff_browser.get(REQUESTS)
    assert [r.pk for r in page.context["cl"].result_list] == [sooner.pk, later.pk]
    assert str(sooner) in page.content.decode() and "object (" not in page.content.decode() and "days left" in page.content.decode()
    due_column = page.context["cl"].list_display.index("due_at")
    newest_due_first = staff_browser.get(REQUESTS, {"o": f"-{due_column}"}).context["cl"].result_list
    assert [r.pk for r in newest_due_first] == [later.pk, sooner.pk]
    assert [r.pk for r in staff_browser.get(REQUESTS, {"q": "bo@example.com"}).context["cl"].result_list] == [sooner.pk]
    assert [r.pk for r in staff_browser.get(REQUESTS, {"kind__exact": "access"}).context["cl"].result_list] == [later.pk]


# --- complaints (CMP-4) ----------------------------------------------------------------------------


def complaint_of(complainant, **more) -> Complaint:
    today = timezone.localdate()
    return receive_complaint(complainant=complainant, identification="Carl, carl@example.org", description="Messages I never asked for.",
                             period_start=today - datetime.timedelta(days=3), period_end=today, **more)


def test_cmp4_staff_who_may_only_view_complaints_are_offered_no_action_and_change_nothing(client, client_account):
    complaint = complaint_of(client_account)
    client.force_login(staff_with("compliance.view_complaint"))
    assert offered(client, COMPLAINTS) == set()
    act(client, COMPLAINTS, "reject", [complaint.pk], post="yes", reason="Not spam.")
    assert Complaint.objects.get(pk=complaint.pk).status == "open"


def test_cmp4_rejecting_asks_for_the_answer_and_without_it_changes_nothing(staff_browser, client_account):
    complaint = complaint_of(client_account)
    page = act(staff_browser, COMPLAINTS, "reject", [complaint.pk])
    assert "Reject complaints" in page.content.decode() and "ada@example.com" in page.content.decode()
    again = act(staff_browser, COMPLAINTS, "reject", [complaint.pk], post="yes", reason="")
    assert again.context["reason_form"].errors
    complaint.refresh_from_db()
    assert complaint.status == "open" and complaint.answer == ""


def test_cmp4_the_confirmed_answer_closes_the_complaint_and_is_audited(staff_browser, staff, client_account):
    complaint = complaint_of(client_account)
    done = act(staff_browser, COMPLAINTS, "uphold", [complaint.pk], post="yes", reason="You are right: the project is warned.")
    complaint.refresh_from_db()
    assert (complaint.status, complaint.answer, complaint.answered_by) == ("upheld", "You are right: the project is warned.", staff)
    assert AuditLog.objects.filter(action=Audit.COMPLAINT_DECIDED["upheld"], actor=staff, target_id=str(complaint.pk)).exists()
    assert sentences(done) == [f"Upheld 1 complaint with your answer: {complaint}."]


def test_cmp4_suspending_the_sending_names_the_project_and_who_complained_then_suspends_it(staff_browser, staff, client_account, other_account):
    project = make_project(owner=other_account)
    complaint = complaint_of(client_account, kind="spam", project_id=project.pk)
    assert complaint.matched is False
    page = act(staff_browser, COMPLAINTS, "suspend_sending", [complaint.pk])
    assert f"Project {project.pk}" in page.content.decode() and "ada@example.com" in page.content.decode()
    project.refresh_from_db()
    assert project.status == "active"
    done = act(staff_browser, COMPLAINTS, "suspend_sending", [complaint.pk], post="yes")
    project.refresh_from_db()
    assert project.status == "suspended"
    assert AuditLog.objects.filter(action=Audit.COMPLAINT_SENDING_SUSPENDED, actor=staff, target_id=str(complaint.pk)).exists()
    assert sentences(done) == [f"Suspended the sending of the project named by 1 complaint: {complaint}."]


def test_cmp4_the_complaint_list_sorts_by_due_date_and_searches(staff_browser, client_account, other_account):
    first = complaint_of(client_account)
    Complaint.objects.filter(pk=first.pk).update(due_at=first.due_at + datetime.timedelta(days=9))
    second = complaint_of(other_account)
    page = staff_browser.get(COMPLAINTS)
    assert [c.pk for c in page.context["cl"].result_list] == [second.pk, first.pk]
    assert str(second) in page.content.decode() and "days left" in page.content.decode()
    assert [c.pk for c in staff_browser.get(COMPLAINTS, {"q": "bo@example.com"}).context["cl"].result_list] == [second.pk]


# --- incidents (CMP-6) -----------------------------------------------------------------------------


def test_cmp6_notifying_lists_the_clients_emailed_and_the_confirmed_post_emails_them_once(staff_browser, staff, mailbox,
                                                                                          django_capture_on_commit_callbacks):
    victims = [make_client(email=f"victim{n}@example.com") for n in range(2)]
    incident = Incident.objects.create(discovered_at=timezone.now() - datetime.timedelta(hours=70), description="Leaked export link.")
    incident.affected.set(victims)
    listing = staff_browser.get(INCIDENTS)
    assert "1 hour left" in listing.content.decode() and str(incident) in listing.content.decode()
    page = act(staff_browser, INCIDENTS, "notify", [incident.pk])
    assert "victim0@example.com, victim1@example.com" in page.content.decode()
    incident.refresh_from_db()
    assert incident.notified_at is None and mailbox == []
    with django_capture_on_commit_callbacks(execute=True):
        done = act(staff_browser, INCIDENTS, "notify", [incident.pk], post="yes")
    incident.refresh_from_db()
    assert incident.notified_by == staff and sorted(m.to[0] for m in mailbox) == ["victim0@example.com", "victim1@example.com"]
    assert AuditLog.objects.filter(action=Audit.INCIDENT_NOTIFIED, actor=staff, target_id=str(incident.pk)).exists()
    assert sentences(done) == [f"Emailed 2 affected client(s) of 1 incident: {incident}."]
    assert "notified" in staff_browser.get(INCIDENTS).content.decode()


def test_cmp6_staff_who_may_only_view_incidents_cannot_notify(client, mailbox):
    incident = Incident.objects.create(discovered_at=timezone.now() - datetime.timedelta(hours=80), description="Old.")
    incident.affected.set([make_client(email="victim@example.com")])
    client.force_login(staff_with("compliance.view_incident"))
    assert "notify" not in offered(client, INCIDENTS)
    act(client, INCIDENTS, "notify", [incident.pk], post="yes")
    incident.refresh_from_db()
    assert incident.notified_at is None and mailbox == []


# --- legal documents (CMP-1) and holidays ---------------------------------------------------------

NEW_TERMS = {"kind": "cookies", "version": "9.0", "title": "Cookie Policy", "body": "Cookies, again.\nLine two."}


def test_cmp1_publishing_shows_who_is_told_first_and_publishes_only_when_confirmed(staff_browser, staff, client_account, other_account, mailbox,
                                                                                   django_capture_on_commit_callbacks):
    page = staff_browser.post(f"{DOCUMENTS}add/", NEW_TERMS)
    text = page.content.decode()
    assert page.status_code == 200 and "Publish Cookie Policy 9.0" in text and "2 clients are emailed" in text
    assert 'name="version" value="9.0"' in text and 'name="body" value="Cookies, again.\nLine two."' in text  # posted back as shown
    assert not LegalDocument.objects.filter(kind="cookies", version="9.0").exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = staff_browser.post(f"{DOCUMENTS}add/", {**NEW_TERMS, "post": "yes"}, follow=True)
    document = LegalDocument.objects.get(kind="cookies", version="9.0")
    assert (document.title, document.body) == (NEW_TERMS["title"], NEW_TERMS["body"])
    assert AuditLog.objects.filter(action=Audit.LEGAL_PUBLISHED, actor=staff, target_id=str(document.pk)).exists()
    assert LegalNotice.objects.filter(document=document).count() == 2
    assert sorted(m.to[0] for m in mailbox if "9.0" in m.subject) == ["ada@example.com", "bo@example.com"]
    assert sentences(done) == [f"Published {document}: in force now, and every client is being emailed about it."]


def test_cmp1_publishing_needs_the_add_permission(client):
    client.force_login(staff_with("compliance.view_legaldocument"))
    assert client.post(f"{DOCUMENTS}add/", {**NEW_TERMS, "post": "yes"}).status_code == 403
    assert not LegalDocument.objects.filter(version="9.0").exists()


def test_cmp1_an_invalid_version_shows_the_form_errors_and_no_confirmation(staff_browser):
    LegalDocument.objects.create(**{**NEW_TERMS, "version": "8.0"})
    page = staff_browser.post(f"{DOCUMENTS}add/", {**NEW_TERMS, "version": "8.0"})
    assert page.status_code == 200 and "adminform" in page.context and "Publish Cookie Policy" not in page.content.decode()
    assert LegalDocument.objects.filter(version="8.0").count() == 1


def test_cmp4_adding_a_holiday_says_which_deadlines_it_moves_then_adds_it(staff_browser, staff):
    page = staff_browser.post(f"{HOLIDAYS}add/", {"date": "2031-12-24", "name": "Christmas Eve"})
    assert "2031-12-24 (Christmas Eve) becomes a holiday" in page.content.decode() and "do not move" in page.content.decode()
    assert not Holiday.objects.filter(date="2031-12-24").exists()
    staff_browser.post(f"{HOLIDAYS}add/", {"date": "2031-12-24", "name": "Christmas Eve", "post": "yes"})
    holiday = Holiday.objects.get(date="2031-12-24")
    assert AuditLog.objects.filter(action=Audit.ADMIN_ADDED, actor=staff, target_id=str(holiday.pk)).exists()
    listed = staff_browser.get(HOLIDAYS, {"q": "Christmas"}).context["cl"].result_list
    assert [h.pk for h in listed] == [holiday.pk]


def test_cmp4_a_holiday_needs_the_add_permission(client):
    client.force_login(staff_with("compliance.view_holiday"))
    assert client.post(f"{HOLIDAYS}add/", {"date": "2031-12-24", "name": "Christmas Eve", "post": "yes"}).status_code == 403
    assert not Holiday.objects.filter(date="2031-12-24").exists()


def test_cmp4_an_answer_saved_on_the_complaint_comes_filled_in_on_the_confirmation_page(staff_browser, client_account):
    complaint = complaint_of(client_account)
    Complaint.objects.filter(pk=complaint.pk).update(answer="Double opt-in recorded.")
    page = act(staff_browser, COMPLAINTS, "reject", [complaint.pk])
    assert ">Double opt-in recorded.</textarea>" in page.content.decode() and not page.context["reason_form"].errors
    assert Complaint.objects.get(pk=complaint.pk).status == "open"
