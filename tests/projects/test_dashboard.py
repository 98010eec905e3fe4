"""The dashboard's project pages (PRJ-1..3, PRJ-7, ACC-3): create a project, see its reasons,
search and page its subscribers, add and unsubscribe one, invite a participant; a participant
sees only the sections it was given, read-only where its level is view; another client's project
is not found; a refusal shows the rule's sentence and changes nothing."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts
from projects.models import AddressBook, Project, ProjectMember, Subscriber
from tests.factories import add_member, make_client, make_project, make_subscriber
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def owner_browser(client, client_account):
    client.force_login(client_account)
    return client


def test_prj7_a_new_project_of_a_reviewed_industry_says_it_waits_for_review(owner_browser, client_account):
    answer = owner_browser.post("/projects/", {"name": "Vitamins", "industry": "supplements"}, follow=True)
    project = Project.objects.get(owner=client_account)
    assert answer.redirect_chain[-1][0] == f"/projects/{project.pk}/"
    page = text(answer)
    assert "Suspended" in page and "Industry review (PRJ-7)" in page and "Waiting for staff" in page


def test_tar2_the_third_free_project_is_refused_with_the_rules_sentence_and_the_form_keeps_the_name(owner_browser, client_account):
    make_project(owner=client_account, name="One")
    make_project(owner=client_account, name="Two")
    page = text(owner_browser.post("/projects/", {"name": "Third one", "industry": "other"}, follow=True))
    assert "On the Free tariff you can create 2 projects" in page and 'value="Third one"' in page
    assert Project.objects.filter(owner=client_account).count() == 2


def test_subscribers_are_searched_by_exact_email_or_phone_and_paged(owner_browser, client_account):
    project = make_project(owner=client_account)
    for n in range(30):
        make_subscriber(project=project, email=f"s{n:02d}@example.org")
    make_subscriber(project=project, phone="+4915112345678", name="By Phone")
    first = owner_browser.get(f"/projects/{project.pk}/").content.decode()
    assert len(set(re.findall(r"s\d\d@example.org", first))) == 24  # 25 a page, the phone one newest
    older = re.search(r'href="\?page=([^"]+)"', first).group(1)
    second = owner_browser.get(f"/projects/{project.pk}/?page={older}").content.decode()
    assert len(set(re.findall(r"s\d\d@example.org", second))) == 6
    assert "s07@example.org" in text(owner_browser.get(f"/projects/{project.pk}/", {"q": "S07@example.org"}))
    assert "By Phone" in text(owner_browser.get(f"/projects/{project.pk}/", {"q": "+49 151 12345678"}))
    assert "Nobody matches." in text(owner_browser.get(f"/projects/{project.pk}/", {"q": "%"}))


def test_prj3_add_and_unsubscribe_a_subscriber(owner_browser, client_account):
    project = make_project(owner=client_account)
    refused = text(owner_browser.post(f"/projects/{project.pk}/subscribers/", {"email": "new@example.org"}, follow=True))
    assert "consented" in refused and not Subscriber.objects.exists()
    owner_browser.post(f"/projects/{project.pk}/subscribers/", {"email": "new@example.org", "consent": "on"})
    subscriber = Subscriber.objects.get(email="new@example.org")
    owner_browser.post(f"/projects/{project.pk}/subscribers/{subscriber.pk}/unsubscribe/")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


def test_prj1_a_participant_sees_only_its_sections_read_only_at_view(client, client_account, other_account):
    project = make_project(owner=other_account)
    make_subscriber(project=project, email="seen@example.org")
    add_member(project=project, client=client_account, subscribers="view")
    client.force_login(client_account)
    page = text(client.get(f"/projects/{project.pk}/"))
    assert "seen@example.org" in page and "Add a subscriber" not in page and "Unsubscribe" not in page
    assert "Participants" not in page and "Settings" not in page
    before = database_state()
    refused = text(client.post(f"/projects/{project.pk}/subscribers/", {"email": "sneak@example.org", "consent": "on"}, follow=True))
    assert "This needs full access to subscribers in this project." in refused
    assert changed_tables(before, database_state()) == []


def test_prj1_another_clients_project_is_not_found_and_nothing_changes(owner_browser, other_account):
    project = make_project(owner=other_account)
    before = database_state()
    assert owner_browser.get(f"/projects/{project.pk}/").status_code == 404  # as if it did not exist
    assert owner_browser.post(f"/projects/{project.pk}/settings/", {"name": "Taken", "industry": "other"}).status_code == 404
    assert owner_browser.post(f"/projects/{project.pk}/subscribers/", {"email": "planted@example.org", "consent": "on"}).status_code == 404
    assert changed_tables(before, database_state()) == []


def test_acc3_a_blocked_owner_reads_its_project_but_changes_nothing(owner_browser, client_account):
    project = make_project(owner=client_account)
    accounts.block(client=client_account, reason="billing")
    assert "Shop bot" in text(owner_browser.get(f"/projects/{project.pk}/"))
    before = database_state()
    answer = text(owner_browser.post(f"/projects/{project.pk}/settings/", {"name": "Renamed", "industry": "other"}, follow=True))
    assert "Your account is blocked" in answer
    assert changed_tables(before, database_state()) == []


def test_prj1_the_owner_invites_and_removes_a_participant(owner_browser, client_account, other_account):
    project = make_project(owner=client_account)
    owner_browser.post(f"/projects/{project.pk}/members/", {"email": other_account.email, "subscribers": "view", "funnels": "none",
                                                            "address_books": "none", "messages": "none", "statistics": "none",
                                                            "settings": "none", "access_control": "none"})
    member = ProjectMember.objects.get(project=project, client=other_account)
    assert member.subscribers == "view"
    owner_browser.post(f"/projects/{project.pk}/members/{member.pk}/remove/")
    assert not ProjectMember.objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize("path", ["/projects/", "/projects/{project}/"])
def test_project_pages_answer_in_the_same_number_of_queries_with_1_and_50_rows(owner_browser, client_account, path):
    from billing.models import Subscription  # noqa: F401 (PRO: more than two projects)

    project = make_project(owner=client_account)
    make_subscriber(project=project, email="one@example.org")
    url = path.format(project=project.pk)
    with CaptureQueriesContext(connection) as one:
        assert owner_browser.get(url).status_code == 200
    for n in range(49):
        make_subscriber(project=project, email=f"more{n}@example.org")
    AddressBook.objects.bulk_create([AddressBook(project=project, name=f"Book {n}") for n in range(50)])
    for n in range(3):
        add_member(project=project, client=make_client(email=f"helper{n}@example.com"), subscribers="view")
    for n in range(5):
        other = make_project(owner=make_client(email=f"host{n}@example.com"), name=f"Hosted {n}")
        add_member(project=other, client=client_account, subscribers="view")
    with CaptureQueriesContext(connection) as fifty:
        assert owner_browser.get(url).status_code == 200
    assert len(fifty) == len(one), [q["sql"][:100] for q in fifty.captured_queries]
