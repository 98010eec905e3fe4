"""The staff console for projects and subscribers (PRJ-7 review, PRJ-4, a million rows)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditLog
from projects.models import Project, Subscriber
from tests.factories import add_member, make_client, make_project, make_subscriber, on_pro

pytestmark = pytest.mark.django_db

PROJECTS = "/admin/projects/project/"
SUBSCRIBERS = "/admin/projects/subscriber/"


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def test_prj7_staff_clear_a_pending_project_from_the_list(staff_browser, client_account, staff):
    project = make_project(owner=client_account, industry="gambling")
    pending = staff_browser.get(PROJECTS, {"review__exact": "pending"}).context["cl"]
    assert [p.pk for p in pending.result_list] == [project.pk]
    staff_browser.post(PROJECTS, {"action": "clear_for_sending", "_selected_action": [project.pk], "post": "yes"})
    project.refresh_from_db()
    assert project.review == "cleared" and project.reviewed_by == staff and project.may_send
    assert AuditLog.objects.filter(action="project.review_cleared", actor=staff, target_id=str(project.pk)).exists()


def test_prj7_refusing_keeps_the_project_from_sending(staff_browser, client_account):
    project = make_project(owner=client_account, industry="adult")
    staff_browser.post(PROJECTS, {"action": "refuse_sending", "_selected_action": [project.pk], "post": "yes", "reason": "Adult content."})
    project.refresh_from_db()
    assert project.review == "refused" and not project.may_send


def staff_in(group: str):
    person = make_client(email=f"{group}-person@example.com")
    person.is_staff = True
    person.save()
    person.groups.add(Group.objects.get(name=group))
    return person


def test_prj7_support_sees_projects_but_cannot_review_and_compliance_can(client, client_account):
    project = make_project(owner=client_account, industry="gambling")
    client.force_login(staff_in("support"))
    assert client.get(PROJECTS).status_code == 200
    client.post(PROJECTS, {"action": "clear_for_sending", "_selected_action": [project.pk], "post": "yes"})
    project.refresh_from_db()
    assert project.review == "pending"
    client.force_login(staff_in("compliance"))
    client.post(PROJECTS, {"action": "clear_for_sending", "_selected_action": [project.pk], "post": "yes"})
    project.refresh_from_db()
    assert project.review == "cleared"


def test_admin_project_list_shows_active_counts_without_a_query_per_row(staff_browser, client_account):
    on_pro(client_account)
    first = make_project(owner=client_account, name="First")
    make_subscriber(project=first, email="a@example.org")
    make_subscriber(project=first, email="b@example.org")
    with CaptureQueriesContext(connection) as one:
        page = staff_browser.get(PROJECTS)
    assert page.status_code == 200
    assert {p.pk: p.active_subscribers for p in page.context["cl"].result_list} == {first.pk: 2}
    for n in range(20):
        make_subscriber(project=make_project(owner=client_account, name=f"P{n}"), email=f"s{n}@example.org")
    with CaptureQueriesContext(connection) as many:
        assert staff_browser.get(PROJECTS).status_code == 200
    assert len(one) == len(many)


def test_admin_project_page_shows_participants_inline(staff_browser, client_account, other_account):
    project = make_project(owner=client_account)
    add_member(project=project, client=other_account, subscribers="view")
    page = staff_browser.get(f"{PROJECTS}{project.pk}/change/")
    assert page.status_code == 200 and b"bo@example.com" in page.content


def test_prj4_subscriber_list_shows_messenger_ids_to_staff_and_searches_indexed_columns(staff_browser, client_account):
    project = make_project(owner=client_account)
    now = project.created_at
    Subscriber.objects.create(
        project=project, messenger="telegram", messenger_user_id="55501234", name="Tele", source="telegram",
        consent_at=now, consent_source="Telegram /start", subscribed_at=now,
    )
    make_subscriber(project=project, email="eve@example.org", phone="+4915112345678")
    page = staff_browser.get(SUBSCRIBERS)
    assert page.status_code == 200 and b"55501234" in page.content
    for term, name in [("EVE@example.org", "Sub Scriber"), ("+49 151 12345678", "Sub Scriber"), ("55501234", "Tele")]:
        found = staff_browser.get(SUBSCRIBERS, {"q": term}).context["cl"].result_list
        assert [s.name for s in found] == [name], term
    assert list(staff_browser.get(SUBSCRIBERS, {"q": "+1 nonsense"}).context["cl"].result_list) == []


def test_admin_subscriber_list_does_not_count_a_million_rows(staff_browser, client_account):
    from core.admin import CappedCountPaginator

    project = make_project(owner=client_account)
    make_subscriber(project=project, email="eve@example.org")
    with CaptureQueriesContext(connection) as queries:
        page = staff_browser.get(SUBSCRIBERS)
    assert page.status_code == 200 and isinstance(page.context["cl"].paginator, CappedCountPaginator)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_prj3_staff_unsubscribe_action_is_audited(staff_browser, client_account, staff):
    project = make_project(owner=client_account)
    sub = make_subscriber(project=project, email="eve@example.org")
    page = staff_browser.post(SUBSCRIBERS, {"action": "unsubscribe", "_selected_action": [sub.pk]})
    sub.refresh_from_db()
    assert page.status_code == 200 and "eve@example.org" in page.content.decode() and sub.status == "active"  # asked first
    staff_browser.post(SUBSCRIBERS, {"action": "unsubscribe", "_selected_action": [sub.pk], "post": "yes"})
    sub.refresh_from_db()
    assert sub.status == "unsubscribed"
    assert AuditLog.objects.filter(action="subscriber.unsubscribed", actor=staff).exists()


def test_admin_subscribers_cannot_be_added_or_deleted_by_hand(staff_browser, client_account):
    project = make_project(owner=client_account)
    sub = make_subscriber(project=project, email="eve@example.org")
    assert staff_browser.get(f"{SUBSCRIBERS}add/").status_code == 403
    staff_browser.post(f"{SUBSCRIBERS}{sub.pk}/delete/", {"post": "yes"})
    assert Subscriber.objects.filter(pk=sub.pk).exists()
    assert Project.objects.filter(pk=project.pk).exists()
