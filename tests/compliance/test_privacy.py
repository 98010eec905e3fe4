"""CMP-2: data subject requests with their deadlines, and the export of everything every app
holds on the person (and nothing of anyone else)."""

import datetime
import json

import pytest
import time_machine
from django.core.exceptions import ValidationError

from billing import services as billing
from compliance.models import PrivacyRequest
from compliance.services import extend_privacy_request, receive_privacy_request
from core.exceptions import RuleRefused
from tests.factories import add_member, api_as, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db


def test_cmp2_a_request_is_due_one_month_after_receipt(client_account):
    with time_machine.travel(datetime.datetime(2027, 1, 31, 10, tzinfo=datetime.UTC), tick=False):
        response = api_as(client_account).post("/api/v1/privacy/requests/", {"kind": "access", "details": "All of it."})
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["status"], body["due_at"]) == ("access", "open", "2027-02-28")
    assert [r["id"] for r in api_as(client_account).get("/api/v1/privacy/requests/").json()["results"]] == [body["id"]]


@pytest.mark.parametrize("kind", ["deletion", "", None])
def test_cmp2_an_unknown_kind_is_400_and_nothing_is_stored(client_account, kind):
    response = api_as(client_account).post("/api/v1/privacy/requests/", {"kind": kind}, format="json")
    assert response.status_code == 400 and "kind" in response.json()
    assert not PrivacyRequest.objects.exists()


@pytest.mark.parametrize("kind", ["access", "rectification", "erasure", "restriction", "objection", "portability"])
def test_cmp2_the_six_kinds(client_account, kind):
    assert api_as(client_account).post("/api/v1/privacy/requests/", {"kind": kind}).status_code == 201


def test_cmp2_staff_may_extend_by_two_more_months_with_a_reason(client_account, staff):
    with time_machine.travel(datetime.datetime(2027, 3, 10, 10, tzinfo=datetime.UTC), tick=False):
        request = receive_privacy_request(client=client_account, kind="portability")
    with pytest.raises(ValidationError):
        extend_privacy_request(request=request, months=1, reason=" ", actor=staff)
    request = extend_privacy_request(request=request, months=2, reason="Many systems to search", actor=staff)
    assert request.due_at == datetime.date(2027, 6, 10)
    with pytest.raises(RuleRefused) as refused:
        extend_privacy_request(request=request, months=1, reason="Again", actor=staff)
    assert refused.value.code == "extension_too_long"


def test_cmp2_a_subscribers_request_through_staff(staff):
    request = receive_privacy_request(subject_email="sub@example.org", kind="erasure", actor=staff)
    assert request.client is None and request.subject_email == "sub@example.org"


def test_cmp2_the_admin_fulfils_and_refuses(client, staff, client_account):
    first = receive_privacy_request(client=client_account, kind="access")
    second = receive_privacy_request(client=client_account, kind="objection")
    client.force_login(staff)
    client.post("/admin/compliance/privacyrequest/", {"action": "fulfil", "_selected_action": [first.pk], "post": "yes"})
    client.post("/admin/compliance/privacyrequest/", {"action": "refuse", "_selected_action": [second.pk], "post": "yes"})
    assert PrivacyRequest.objects.get(pk=first.pk).status == "fulfilled"
    assert PrivacyRequest.objects.get(pk=second.pk).status == "open"  # a refusal needs its reason
    client.post("/admin/compliance/privacyrequest/", {"action": "extend_one_month", "_selected_action": [second.pk], "post": "yes", "reason": "Busy"})
    assert PrivacyRequest.objects.get(pk=second.pk).extension_reason == "Busy"


def test_cmp2_prj4_the_export_holds_every_apps_data_on_the_person_and_nothing_of_anyone_else(client_account, other_account):
    from accounts import services as accounts

    accounts.mark_email_verified(client=client_account, email=client_account.email)
    billing.attach_card(client=client_account, token="tok_visa")
    billing.activate_pro(client=client_account, period="monthly")
    own = make_project(owner=client_account, name="Ada's bot")
    theirs = make_project(owner=other_account, name="Bo's bot")
    add_member(project=theirs, client=client_account, statistics="view")
    make_subscriber(project=theirs, email=client_account.email, name="Ada as a subscriber")
    make_subscriber(project=own, email="stranger@example.org", name="Someone Else")
    receive_privacy_request(client=client_account, kind="access")
    make_client(email="third@example.com", name="Third Person")

    response = api_as(client_account).get("/api/v1/privacy/export/")
    assert response.status_code == 200
    data = response.json()
    assert set(data) >= {"accounts", "projects", "billing", "compliance"}
    assert data["accounts"]["account"]["email"] == "ada@example.com"
    assert [p["name"] for p in data["projects"]["projects_owned"]] == ["Ada's bot"]
    assert data["projects"]["memberships"][0]["project"] == "Bo's bot"
    assert data["projects"]["as_subscriber"][0]["consent_source"]
    assert data["billing"]["subscription"]["period"] == "monthly" and data["billing"]["invoices"] and data["billing"]["cards"][0]["last4"] == "4242"
    assert data["compliance"]["privacy_requests"][0]["kind"] == "access"
    assert data["compliance"]["legal_acceptances"]
    text = json.dumps(data)
    for other in ("bo@example.com", "Bo Other", "stranger@example.org", "Someone Else", "third@example.com", "Third Person"):
        assert other not in text


def test_cmp2_an_access_request_is_answered_by_a_link_that_expires(client, client_account, staff, mailbox, django_capture_on_commit_callbacks):
    from compliance.models import PrivacyExport
    from compliance.services import decide_privacy_request, purge_expired_exports

    request = receive_privacy_request(client=client_account, kind="portability")
    with django_capture_on_commit_callbacks(execute=True):
        decide_privacy_request(request=request, fulfilled=True, note="", actor=staff)
    link = next(line for line in mailbox[-1].body.splitlines() if "/privacy/download/" in line)
    path = link[link.index("/privacy/download/"):].split()[0]
    download = client.get(path)
    assert download.status_code == 200 and json.loads(download.content)["accounts"]["account"]["email"] == client_account.email
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=8)):
        assert client.get(path).status_code == 404
        assert purge_expired_exports(datetime.datetime.now(datetime.UTC)) == 1
    assert not PrivacyExport.objects.exists()
    assert client.get("/privacy/download/not-a-token/").status_code == 404
