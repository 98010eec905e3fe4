"""Issue 17, item 1: integers a bigint column cannot hold, in a body or a path, and pagination
cursors we did not make: a 4xx that says why, nothing stored, never the 500 of a query PostgreSQL
(or SQLite) refuses."""

import base64
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from compliance.models import Complaint
from tests.core.hostile import PAST_BIGINT, as_json, assert_refused, nothing_stored, post_json
from tests.factories import api_as, key_for, make_project, make_subscriber

pytestmark = pytest.mark.django_db

COMPLAINT = {"identification": "Ann Lee, ann@example.com", "description": "Messages I never asked for.", "period_start": "2026-11-01",
             "period_end": "2026-11-30", "kind": "privacy"}


@pytest.fixture
def api(client_account):
    return api_as(client_account)


@pytest.mark.parametrize("number", PAST_BIGINT)
def test_issue17_a_complaints_project_past_bigint_is_400(api, number):
    with nothing_stored():
        response = post_json(api, "/api/v1/complaints/", dict(COMPLAINT, project=number))
    assert_refused(response, 400, '"project"', "9223372036854775807")
    assert not Complaint.objects.exists()


def test_issue17_a_complaints_project_in_range_that_does_not_exist_is_400(api):
    with nothing_stored():
        response = post_json(api, "/api/v1/complaints/", dict(COMPLAINT, project=2**62))
    assert_refused(response, 400, '"project"', "no such project")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/legal/accept/", {"documents": [2**63]}),
        ("/api/v1/billing/topup/", {"amount_cents": 2**64}),
        ("/api/v1/projects/", {"name": "Shop", "industry": "other", "extra": {"deep": [1, 2, -(2**63) - 1]}}),
    ],
    ids=["list-item", "amount", "unread-field"],
)
def test_issue17_an_integer_past_bigint_anywhere_in_a_body_is_400(api, path, body):
    with nothing_stored():
        response = post_json(api, path, body)
    assert_refused(response, 400, "9223372036854775807")


def test_issue17_digits_past_bigint_in_a_form_encoded_body_are_400(api):
    with nothing_stored():
        response = api.post("/api/v1/complaints/", data="identification=me&description=d&period_start=2026-11-01&period_end=2026-11-30"
                            f"&project={2**70}", content_type="application/x-www-form-urlencoded")
    assert_refused(response, 400, '"project"', "9223372036854775807")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_issue17_an_id_past_bigint_in_the_path_is_404(api, method):
    big = 2**70
    with nothing_stored():
        body = {} if method == "get" else {"data": as_json({}), "content_type": "application/json"}
        project = getattr(api, method)(f"/api/v1/projects/{big}/", **body)
        key = api.delete(f"/api/v1/api-keys/{big}/")
        subscriber = api.post(f"/api/v1/projects/{big}/subscribers/{big}/unsubscribe/")
    for response in (project, key, subscriber):
        assert_refused(response, 404, "not_found")


def test_issue17_an_id_past_bigint_in_a_dashboard_path_is_404(client, client_account):
    client.force_login(client_account)
    project = make_project(owner=client_account)
    with nothing_stored():
        assert client.get(f"/projects/{2**70}/").status_code == 404
        assert client.post(f"/projects/{project.pk}/subscribers/{2**70}/unsubscribe/").status_code == 404


def test_issue17_a_page_size_past_bigint_is_the_largest_page(api):
    response = api.get(f"/api/v1/api-keys/?page_size={2**70}")
    assert response.status_code == 200 and len(response.json()["results"]) == 1


def _cursor(query: str) -> str:
    return quote(base64.b64encode(query.encode()).decode())


def _lists(client_account) -> list[str]:
    project = make_project(owner=client_account)
    return ["/api/v1/api-keys/", "/api/v1/projects/", "/api/v1/complaints/", "/api/v1/privacy/requests/", "/api/v1/billing/ledger/",
            "/api/v1/billing/invoices/", f"/api/v1/projects/{project.pk}/subscribers/", f"/api/v1/projects/{project.pk}/members/",
            f"/api/v1/projects/{project.pk}/address-books/"]


@pytest.mark.parametrize("query", ["p=abc", "p=2026-11-01", f"p={2**70}", "p=a%00b", "r=1&p=x", "o=5", "garbage"])
def test_issue17_a_crafted_cursor_is_404_invalid_cursor_on_every_list(api, client_account, query):
    """A cursor is signed for its list: a made-up one (DRF's are plain base64, its position
    used in the query as it is) answers as DRF answers a cursor it cannot decode."""
    for path in _lists(client_account):
        response = api.get(f"{path}?cursor={_cursor(query)}")
        assert_refused(response, 404, "Invalid cursor")


def test_issue17_our_cursors_still_page_and_only_on_their_own_list(api, client_account):
    for _ in range(2):
        key_for(client_account)
    project = make_project(owner=client_account)
    for n in range(2):
        make_subscriber(project=project, email=f"s{n}@example.com")
    first = api.get("/api/v1/api-keys/?page_size=2").json()
    second = api.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert {k["id"] for k in first["results"] + second["results"]} == set(ApiKey.objects.values_list("id", flat=True))
    back = api.get(second["previous"]).json()
    assert [k["id"] for k in back["results"]] == [k["id"] for k in first["results"]]
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    # Its signature holds for the api keys' list only: on another list it is made up.
    assert_refused(api.get(f"/api/v1/projects/{project.pk}/subscribers/?cursor={quote(cursor)}"), 404, "Invalid cursor")
    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    assert_refused(api.get(f"/api/v1/api-keys/?cursor={quote(tampered)}"), 404, "Invalid cursor")


def test_issue17_the_dashboards_crafted_cursor_reads_as_the_first_page(client, client_account):
    """The dashboard's lists (core.pagination.page_of) were signed already: a made-up cursor is
    the first page, never an error."""
    client.force_login(client_account)
    make_project(owner=client_account)
    assert client.get(f"/projects/?page={_cursor('p=abc')}").status_code == 200
    assert client.get("/projects/?page=" + quote('["x"]:abc')).status_code == 200


def test_issue17_anonymous_callers_get_the_same_answers(client_account):
    anonymous = APIClient()
    assert_refused(post_json(anonymous, "/api/v1/auth/token/", {"email": "a@example.com", "password": "x", "otp": 2**70}), 400, "9223372036854775807")
