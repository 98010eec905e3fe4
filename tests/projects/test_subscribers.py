"""PRJ-3, PRJ-5: subscribers added by the client, listed, unsubscribed; imports; address books."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditLog
from projects import selectors
from projects.models import AddressBook, Contact, Subscriber
from tests.factories import api_as, make_client, make_project, make_subscriber, on_pro

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


@pytest.fixture
def api(client_account):
    return api_as(client_account)


def path(project, rest: str = "") -> str:
    return f"/api/v1/projects/{project.pk}/subscribers/{rest}"


def test_prj3_adding_a_subscriber_keeps_consent_time_and_source(api, project):
    response = api.post(path(project), {"name": "Eve", "email": "Eve@Example.org", "phone": "+49 151 12345678", "consent": True})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["email"], body["phone"], body["status"], body["source"]) == (
        "Eve", "eve@example.org", "+4915112345678", "active", "api",
    )
    assert body["subscribed_at"] and body["consent_at"] and body["consent_source"] == f"Stated through the API by client {project.owner_id}"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "eve@example.org", "consent": False}, "consent"),
        ({"email": "eve@example.org"}, "consent"),
        ({"email": "not-an-email", "consent": True}, "email"),
        ({"phone": "12345", "consent": True}, "phone"),
        ({"email": "info@example.org", "consent": True}, "email"),
        ({"name": "", "email": "", "phone": "", "consent": True}, "name"),
    ],
)
def test_prj3_bad_subscriber_input_is_400_and_stores_nothing(api, project, body, field):
    response = api.post(path(project), body)
    assert response.status_code == 400 and field in response.json()
    assert not Subscriber.objects.exists()


def test_prj3_a_subscriber_may_come_with_a_name_only(api, project):
    """API.md: name, email and phone are each optional; an empty one is refused."""
    response = api.post(path(project), {"name": "Walk-in", "consent": True})
    assert response.status_code == 201 and response.json()["name"] == "Walk-in"
    rows = [{"name": "Only a name"}, {"name": "Second name only"}]
    assert import_(api, project, rows).json() == {"created": 2, "rejected": []}


def test_prj3_the_same_person_twice_is_refused(api, project):
    make_subscriber(project=project, email="eve@example.org")
    response = api.post(path(project), {"email": "EVE@example.org", "consent": True})
    assert response.status_code == 409 and response.json()["code"] == "subscriber_exists"


def test_prj3_someone_who_unsubscribed_is_not_brought_back_by_the_client(api, project):
    subscriber = make_subscriber(project=project, email="eve@example.org")
    api.post(path(project, f"{subscriber.pk}/unsubscribe/"))
    response = api.post(path(project), {"email": "eve@example.org", "consent": True})
    assert response.status_code == 409 and response.json()["code"] == "subscriber_unsubscribed"
    assert Subscriber.objects.get(pk=subscriber.pk).status == "unsubscribed"


def test_prj3_unsubscribe_is_200_and_idempotent(api, project):
    subscriber = make_subscriber(project=project, email="eve@example.org")
    first = api.post(path(project, f"{subscriber.pk}/unsubscribe/"))
    assert first.status_code == 200 and first.json()["status"] == "unsubscribed"
    again = api.post(path(project, f"{subscriber.pk}/unsubscribe/"))
    assert again.status_code == 200 and again.json()["unsubscribed_at"] == first.json()["unsubscribed_at"]


def test_prj3_another_projects_subscriber_is_404(api, project, other_account):
    elsewhere = make_subscriber(project=make_project(owner=other_account), email="x@example.org")
    assert api.post(path(project, f"{elsewhere.pk}/unsubscribe/")).status_code == 404
    assert Subscriber.objects.get(pk=elsewhere.pk).status == "active"


def test_tar1_only_active_subscribers_count(api, project, client_account):
    keep = make_subscriber(project=project, email="a@example.org")
    gone = make_subscriber(project=project, email="b@example.org")
    api.post(path(project, f"{gone.pk}/unsubscribe/"))
    assert api.get(f"/api/v1/projects/{project.pk}/").json()["active_subscribers"] == 1
    second = make_project(owner=client_account, name="Second")
    make_subscriber(project=second, email="c@example.org")
    assert selectors.active_subscribers_by_owner() == {client_account.pk: 2}
    stats = api.get(f"/api/v1/projects/{project.pk}/statistics/").json()
    assert (stats["active_subscribers"], stats["unsubscribed"]) == (1, 1)
    assert keep.status == "active"


def test_prj3_list_filters_by_status_email_and_phone(api, project):
    make_subscriber(project=project, email="a@example.org")
    b = make_subscriber(project=project, phone="+14155550123")
    api.post(path(project, f"{b.pk}/unsubscribe/"))
    assert [s["email"] for s in api.get(path(project), {"email": "A@example.org"}).json()["results"]] == ["a@example.org"]
    assert [s["id"] for s in api.get(path(project), {"phone": "+1 415 555 0123"}).json()["results"]] == [b.pk]
    assert [s["id"] for s in api.get(path(project), {"status": "unsubscribed"}).json()["results"]] == [b.pk]
    assert api.get(path(project), {"phone": "nonsense"}).json()["results"] == []
    assert api.get(path(project), {"status": "gone"}).status_code == 400


def test_prj3_list_runs_the_same_queries_for_1_and_50_rows(api, project):
    make_subscriber(project=project, email="first@example.org")
    api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(path(project)).json()["results"]) == 1
    Subscriber.objects.bulk_create(
        [Subscriber(project=project, email=f"s{n}@example.org", source="api", consent_at=project.created_at,
                    consent_source="test", subscribed_at=project.created_at) for n in range(60)]
    )
    with CaptureQueriesContext(connection) as fifty:
        page = api.get(path(project)).json()
    assert len(page["results"]) == 50 and page["next"]
    assert len(one) == len(fifty)
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 11 and rest["next"] is None


# --- imports (PRJ-5) ---------------------------------------------------------------------------


def import_(api, project, rows, consent=True):
    return api.post(path(project, "import/"), {"consent_confirmed": consent, "subscribers": rows}, format="json")


def test_prj5_import_rejects_each_bad_row_with_its_reason(api, project):
    make_subscriber(project=project, email="known@example.org")
    rows = [
        {"name": "Good", "email": "good@example.org"},
        {"name": "Role", "email": "info@example.org"},
        {"email": "Support@Example.org"},
        {"email": "noreply@example.org"},
        {"email": "bad-address"},
        {"phone": "555"},
        {},
        {"email": "GOOD@example.org"},
        {"email": "known@example.org"},
        {"phone": "+44 20 7946 0958"},
        "not a row",
    ]
    response = import_(api, project, rows)
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 2  # good@ and the UK phone
    assert [(r["row"], r["reason"]) for r in body["rejected"]] == [
        (1, "role_address"), (2, "role_address"), (3, "role_address"), (4, "invalid_email"), (5, "invalid_phone"),
        (6, "missing_contact"), (7, "duplicate_in_file"), (8, "already_in_project"), (10, "invalid_row"),
    ]
    assert all(r["detail"] for r in body["rejected"])
    assert set(Subscriber.objects.filter(source="import").values_list("email", "phone")) == {
        ("good@example.org", ""), ("", "+442079460958"),
    }
    entry = AuditLog.objects.get(action="subscribers.imported")
    assert entry.details == {"created": 2, "rejected": 9, "consent_confirmed": True}


@pytest.mark.parametrize("consent", [False, None, "yes"])
def test_prj5_an_import_without_the_consent_statement_is_refused_whole(api, project, consent):
    response = import_(api, project, [{"email": "a@example.org"}], consent=consent)
    assert response.status_code == 400 and "consent_confirmed" in response.json()
    assert not Subscriber.objects.exists() and not AuditLog.objects.filter(action="subscribers.imported").exists()


@pytest.mark.parametrize("rows", [[], "rows", None, [{"email": f"u{n}@example.org"} for n in range(10_001)]], ids=["empty", "string", "none", "10001"])
def test_prj5_an_import_that_is_not_a_list_of_at_most_10000_rows_is_refused(api, project, rows):
    response = import_(api, project, rows)
    assert response.status_code == 400 and "subscribers" in response.json()
    assert not Subscriber.objects.exists()


def test_prj5_ten_thousand_rows_in_a_bounded_number_of_queries(api, project):
    rows = [{"name": f"Person {n}", "email": f"person{n}@example.org", "phone": f"+1415555{n:04d}"} for n in range(10_000)]
    api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as queries:
        response = import_(api, project, rows)
    assert response.status_code == 200
    assert response.json() == {"created": 10_000, "rejected": []}
    assert Subscriber.objects.filter(project=project).count() == 10_000
    assert len(queries) <= 40, len(queries)


def test_prj5_import_into_a_blocked_owners_project_changes_nothing(api, project, client_account):
    from accounts import services as accounts

    accounts.block(client=client_account, reason="billing")
    response = import_(api, project, [{"email": "a@example.org"}])
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"
    assert not Subscriber.objects.exists()


# --- address books (PRJ-5) -----------------------------------------------------------------------


def test_prj5_address_book_upload_follows_the_same_rules(api, project):
    book = api.post(f"/api/v1/projects/{project.pk}/address-books/", {"name": "Leads"}).json()
    contacts = f"/api/v1/projects/{project.pk}/address-books/{book['id']}/contacts/"
    rows = [{"email": "lead@example.org"}, {"email": "sales@example.org"}, {"email": "lead@example.org"}]
    response = api.post(contacts + "import/", {"consent_confirmed": True, "contacts": rows}, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert [(r["row"], r["reason"]) for r in response.json()["rejected"]] == [(1, "role_address"), (2, "duplicate_in_file")]
    again = api.post(contacts + "import/", {"consent_confirmed": True, "contacts": [{"email": "lead@example.org"}]}, format="json")
    assert again.json()["rejected"] == [{"row": 0, "reason": "already_in_project", "detail": again.json()["rejected"][0]["detail"]}]
    listed = api.get(contacts).json()["results"]
    assert [c["email"] for c in listed] == ["lead@example.org"]
    assert api.get(f"/api/v1/projects/{project.pk}/address-books/").json()["results"][0]["contacts"] == 1
    refused = api.post(contacts + "import/", {"contacts": [{"email": "x@example.org"}]}, format="json")
    assert refused.status_code == 400 and Contact.objects.count() == 1


def test_prj5_another_projects_address_book_is_404(api, project, other_account):
    other = make_project(owner=other_account)
    book = AddressBook.objects.create(project=other, name="Theirs")
    assert api.get(f"/api/v1/projects/{project.pk}/address-books/{book.pk}/contacts/").status_code == 404


def test_prj1_a_participant_sees_the_owners_subscribers_but_not_anothers(project, client_account):
    from tests.factories import add_member

    member = make_client(email="member@example.com")
    add_member(project=project, client=member, subscribers="view")
    make_subscriber(project=project, email="a@example.org")
    listed = api_as(member).get(path(project)).json()["results"]
    assert [s["email"] for s in listed] == ["a@example.org"]


def _fill(kind: str, project, book, n: int) -> None:
    now = project.created_at
    if kind == "members":
        from projects.models import ProjectMember

        start = ProjectMember.objects.count()
        for i in range(start, start + n):
            ProjectMember.objects.create(project=project, client=make_client(email=f"m{i}@example.com"), statistics="view")
    elif kind == "address-books":
        AddressBook.objects.bulk_create([AddressBook(project=project, name=f"B{i}") for i in range(n)])
    elif kind == "contacts":
        start = Contact.objects.count()
        Contact.objects.bulk_create(
            [Contact(address_book=book, email=f"c{i}@example.org", consent_source="t", created_at=now) for i in range(start, start + n)]
        )


@pytest.mark.parametrize("kind", ["members", "address-books", "contacts"])
def test_list_endpoints_run_the_same_queries_for_1_and_50_rows(api, project, kind):
    book = AddressBook.objects.create(project=project, name="Main")
    url = {
        "members": f"/api/v1/projects/{project.pk}/members/",
        "address-books": f"/api/v1/projects/{project.pk}/address-books/",
        "contacts": f"/api/v1/projects/{project.pk}/address-books/{book.pk}/contacts/",
    }[kind]
    if kind != "address-books":
        _fill(kind, project, book, 1)
    api.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(url).json()["results"]) == 1
    _fill(kind, project, book, 49)
    with CaptureQueriesContext(connection) as fifty:
        assert len(api.get(url).json()["results"]) == 50
    assert len(one) == len(fifty)


def test_tar1_tar5_the_nights_count_leaves_out_deleted_and_archived_projects_per_owner(client_account, other_account):
    from django.utils import timezone

    on_pro(client_account)  # three projects
    live, archived, deleted = (make_project(owner=client_account, name=n) for n in ("Live", "Archived", "Deleted"))
    for n, project in enumerate((live, archived, deleted)):
        make_subscriber(project=project, email=f"s{n}@example.org")
    make_subscriber(project=live, email="second@example.org")
    make_subscriber(project=make_project(owner=other_account), email="theirs@example.org")
    archived.status, archived.archived_at = "archived", timezone.now()
    archived.save()
    deleted.deleted_at = timezone.now()
    deleted.save()

    with CaptureQueriesContext(connection) as queries:
        counts = selectors.active_subscribers_by_owner()

    assert counts == {client_account.pk: 2, other_account.pk: 1}
    assert len(queries) == 1
