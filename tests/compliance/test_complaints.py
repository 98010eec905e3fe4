"""CMP-4: complaints need who, what right and which period; due 30 working days after receipt
(weekends and the holiday table skipped); a spam complaint stops the project's sending until
staff decide."""

import datetime

import pytest
import time_machine

from compliance.calendar import add_working_days
from compliance.models import Complaint, Holiday
from projects.models import Project
from tests.factories import api_as, make_project, make_subscriber
from tests.snapshot import database_state

pytestmark = pytest.mark.django_db
D = datetime.date
GOOD = {"identification": "Eve Example, eve@example.org", "description": "Messages after I sent stop.", "period_start": "2027-03-01",
        "period_end": "2027-03-05"}


@pytest.fixture(autouse=True)
def no_seeded_holidays(db):
    Holiday.objects.all().delete()  # each test sets the holidays it means


def test_cmp4_thirty_working_days_skip_weekends_and_cross_month_ends():
    assert add_working_days(D(2027, 3, 1), 30) == D(2027, 4, 12)  # from a Monday: six weeks of five days later
    assert add_working_days(D(2027, 3, 5), 1) == D(2027, 3, 8)  # Friday → Monday
    assert add_working_days(D(2027, 1, 29), 30) == D(2027, 3, 12)  # across February
    assert add_working_days(D(2028, 2, 1), 20) == D(2028, 2, 29)  # a leap day is a working day


def test_cmp4_holidays_in_the_table_are_skipped():
    Holiday.objects.create(date=D(2027, 3, 26), name="Good Friday")
    Holiday.objects.create(date=D(2027, 3, 29), name="Easter Monday")
    assert add_working_days(D(2027, 3, 1), 30) == D(2027, 4, 14)


def test_cmp4_the_holiday_table_is_seeded_from_the_library(db):
    from importlib import import_module

    from django.apps import apps

    import_module("compliance.migrations.0006_seed_holidays").seed(apps, None)
    assert Holiday.objects.filter(date=D(datetime.date.today().year, 12, 25)).exists()


def test_cmp4_a_complaint_is_received_with_its_due_date(client_account):
    with time_machine.travel(datetime.datetime(2027, 3, 1, 10, tzinfo=datetime.UTC), tick=False):
        response = api_as(client_account).post("/api/v1/complaints/", GOOD, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "open" and body["due_at"] == "2027-04-12" and body["received_at"].startswith("2027-03-01")
    listed = api_as(client_account).get("/api/v1/complaints/").json()["results"]
    assert [c["id"] for c in listed] == [body["id"]]


@pytest.mark.parametrize("missing", ["identification", "description", "period_start", "period_end"])
def test_cmp4_a_complaint_missing_a_required_field_is_400_and_nothing_is_stored(client_account, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    response = api_as(client_account).post("/api/v1/complaints/", body, format="json")
    assert response.status_code == 400 and missing in response.json()
    assert not Complaint.objects.exists()


def test_cmp4_a_period_that_ends_before_it_starts_is_400(client_account):
    response = api_as(client_account).post("/api/v1/complaints/", {**GOOD, "period_end": "2027-02-01"}, format="json")
    assert response.status_code == 400 and not Complaint.objects.exists()


def test_cmp4_a_subscribers_spam_complaint_stops_the_projects_sending_until_staff_decide(client_account, other_account, staff):
    from compliance.services import decide_complaint

    project = make_project(owner=other_account)
    make_subscriber(project=project, email="eve@example.org")  # GOOD's identification
    response = api_as(client_account).post("/api/v1/complaints/", {**GOOD, "kind": "spam", "project": project.pk}, format="json")
    assert response.status_code == 201
    project.refresh_from_db()
    assert project.status == "suspended" and not project.may_send
    complaint = Complaint.objects.get()
    decide_complaint(complaint=complaint, upheld=False, answer="The messages were sent before the stop.", actor=staff)
    project.refresh_from_db()
    assert project.status == "active"


def test_cmp4_an_upheld_spam_complaint_leaves_the_project_suspended(client_account, other_account, staff):
    from compliance.services import decide_complaint

    project = make_project(owner=other_account)
    make_subscriber(project=project, email="eve@example.org")
    api_as(client_account).post("/api/v1/complaints/", {**GOOD, "kind": "spam", "project": project.pk}, format="json")
    decide_complaint(complaint=Complaint.objects.get(), upheld=True, answer="Confirmed.", actor=staff)
    assert Project.objects.get(pk=project.pk).status == "suspended"
    assert Complaint.objects.get().status == "upheld"


def test_cmp4_a_spam_complaint_names_its_project(client_account):
    response = api_as(client_account).post("/api/v1/complaints/", {**GOOD, "kind": "spam"}, format="json")
    assert response.status_code == 400 and "project" in response.json()


def test_cmp4_the_admin_shows_overdue_and_due_soon_and_answers(client, staff, client_account):
    with time_machine.travel(datetime.datetime(2027, 1, 4, 10, tzinfo=datetime.UTC), tick=False):
        api_as(client_account).post("/api/v1/complaints/", GOOD, format="json")
    with time_machine.travel(datetime.datetime(2027, 3, 1, 10, tzinfo=datetime.UTC), tick=False):
        fresh = api_as(client_account).post("/api/v1/complaints/", GOOD, format="json").json()
        client.force_login(staff)
        overdue = client.get("/admin/compliance/complaint/", {"deadline": "overdue"}).context["cl"].result_list
        assert [c.due_at for c in overdue] == [D(2027, 2, 15)]
    with time_machine.travel(datetime.datetime(2027, 4, 8, 10, tzinfo=datetime.UTC), tick=False):
        client.force_login(staff)  # a new session: the first has expired by now
        soon = client.get("/admin/compliance/complaint/", {"deadline": "soon"}).context["cl"].result_list
        assert [c.pk for c in soon] == [fresh["id"]]
    complaint = Complaint.objects.get(pk=fresh["id"])
    client.post("/admin/compliance/complaint/", {"action": "reject", "_selected_action": [complaint.pk]})
    assert Complaint.objects.get(pk=complaint.pk).status == "open"  # no answer written yet
    client.post("/admin/compliance/complaint/", {"action": "reject", "_selected_action": [complaint.pk], "post": "yes",
                                                 "reason": "Not spam: double opt-in recorded."})
    assert Complaint.objects.get(pk=complaint.pk).status == "rejected"


def snapshot() -> dict:
    return database_state()  # the whole database: a refusal writes nothing anywhere


def test_cmp4_a_strangers_spam_complaint_suspends_nothing_and_waits_for_staff_who_suspend_with_one_action(client, client_account, other_account, staff):
    """Any signed-in account could suspend any client's project by naming its id: now only a
    subscriber's or contact's complaint suspends at once; a stranger's goes to staff."""
    project = make_project(owner=other_account)
    make_subscriber(project=project, email="someone-else@example.org")
    response = api_as(client_account).post("/api/v1/complaints/", {**GOOD, "kind": "spam", "project": project.pk}, format="json")
    assert response.status_code == 201
    project.refresh_from_db()
    complaint = Complaint.objects.get()
    assert project.status == "active" and complaint.matched is False and complaint.status == "open"
    client.force_login(staff)
    listed = client.get("/admin/compliance/complaint/", {"matched__exact": "0"}).context["cl"].result_list
    assert [c.pk for c in listed] == [complaint.pk]
    client.post("/admin/compliance/complaint/", {"action": "suspend_sending", "_selected_action": [complaint.pk], "post": "yes"})
    project.refresh_from_db()
    assert project.status == "suspended"
    from compliance.models import AuditLog

    assert AuditLog.objects.filter(action="complaint.sending_suspended", actor=staff, target_id=str(complaint.pk)).exists()


@pytest.mark.parametrize("who", ["email", "phone", "messenger", "contact", "account"])
def test_cmp4_a_complaint_from_a_subscriber_or_contact_suspends_at_once(client_account, other_account, who):
    from projects.models import AddressBook, Contact, Subscriber

    project = make_project(owner=other_account)
    identification = {"email": "Eve, EVE@example.org", "phone": "Eve, +49 151 1234 5678", "messenger": "Eve on Telegram: @eve_t",
                      "contact": "Eve, eve.contact@example.org", "account": "Eve (my account)"}[who]
    if who == "contact":
        book = AddressBook.objects.create(project=project, name="Fair")
        Contact.objects.create(address_book=book, email="eve.contact@example.org", consent_source="fair", created_at=project.created_at)
    else:
        email = client_account.email if who == "account" else "eve@example.org"
        Subscriber.objects.create(project=project, email=email, phone="+4915112345678", name="eve_t", source="import",
                                  consent_at=project.created_at, consent_source="t", subscribed_at=project.created_at)
    body = {**GOOD, "identification": identification, "kind": "spam", "project": project.pk}
    assert api_as(client_account).post("/api/v1/complaints/", body, format="json").status_code == 201
    project.refresh_from_db()
    assert project.status == "suspended" and Complaint.objects.get().matched is True


@pytest.mark.parametrize("project_id", [10**9, "deleted"])
def test_cmp4_a_complaint_about_a_project_that_does_not_exist_is_400_and_nothing_is_stored(client_account, other_account, project_id):
    if project_id == "deleted":
        project = make_project(owner=other_account)
        Project.objects.filter(pk=project.pk).update(deleted_at=project.created_at)
        project_id = project.pk
    api = api_as(client_account)
    before = snapshot()
    response = api.post("/api/v1/complaints/", {**GOOD, "kind": "spam", "project": project_id}, format="json")
    assert response.status_code == 400 and "project" in response.json()
    assert snapshot() == before


def test_cmp4_a_complainant_files_at_most_five_a_day_then_429(client_account):
    api = api_as(client_account)
    for _ in range(5):
        assert api.post("/api/v1/complaints/", GOOD, format="json").status_code == 201
    before = snapshot()
    refused = api.post("/api/v1/complaints/", GOOD, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "complaint_limit"
    assert snapshot() == before
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1, minutes=1), tick=False):
        assert api.post("/api/v1/complaints/", GOOD, format="json").status_code == 201
