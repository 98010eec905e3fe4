"""Issue 17, item 4: the pop-up form held against abuse by anyone holding a project's public key:
one person is one subscriber, a rate per project, a honeypot, and staff undo a flood."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import AuditLog
from projects import popup, services
from projects.models import Subscriber
from tests.conftest import require_service
from tests.factories import make_project, make_subscriber
from tests.projects.test_concurrency import all_at_once

pytestmark = pytest.mark.django_db

URL = "/api/v1/public/subscribe/"
SUBSCRIBERS = "/admin/projects/subscriber/"
SUCCESS = {"status": "subscribed"}


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def subscribe(project, ip="198.51.100.7", **fields):
    body = {"public_key": project.public_key, "consent": True, **fields}
    return APIClient(REMOTE_ADDR=ip).post(URL, body, format="json")


def rows(project) -> list[tuple]:
    return sorted(Subscriber.objects.filter(project=project).values_list("email", "phone", "status", "source"))


# --- one person, one subscriber ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"email": "zoe@example.org"}, {"email": " ZOE@Example.ORG "}),  # emails case-insensitively
        ({"phone": "+4915112345678"}, {"phone": "+49 151 1234-5678"}),  # phones in E.164
        ({"phone": "+4915112345678"}, {"email": "new@example.org", "phone": "+49 (151) 12345678"}),  # either one matches
        ({"email": "zoe@example.org"}, {"email": "zoe@example.org", "phone": "+4915112345678"}),
    ],
)
def test_issue17_a_second_submission_of_the_same_person_adds_no_one_and_answers_the_same(project, first, again):
    one = subscribe(project, **first)
    before = rows(project)
    two = subscribe(project, name="Someone Else", **again)
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json() == SUCCESS  # nothing tells the caller the person was there
    assert rows(project) == before and len(before) == 1
    assert Subscriber.objects.get(project=project).name == ""  # an active subscriber is left as it is


def test_issue17_the_same_person_in_two_projects_is_one_subscriber_of_each(project, client_account):
    other = make_project(owner=client_account, name="Other")
    assert subscribe(project, email="zoe@example.org").status_code == subscribe(other, email="zoe@example.org").status_code == 200
    assert Subscriber.objects.filter(email="zoe@example.org").count() == 2


def test_issue17_an_api_subscriber_is_known_again_by_the_popup(project):
    """The same rule as the API's add and the import (`services.find_person`)."""
    make_subscriber(project=project, email="zoe@example.org")
    assert subscribe(project, email="Zoe@example.org").json() == SUCCESS
    assert rows(project) == [("zoe@example.org", "", "active", "api")]


@pytest.mark.parametrize("fields", [{"name": "Only A Name"}, {"name": "Name", "email": " ", "phone": ""}])
def test_issue17_a_name_alone_is_refused_it_could_not_be_known_again(project, fields):
    response = subscribe(project, **fields)
    assert response.status_code == 400 and "email" in response.json()
    assert not Subscriber.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_issue17_simultaneous_submissions_of_one_person_make_one_row(client_account):
    """Race-safe: the unique constraints on (project, email) and (project, phone) decide, and the
    losers answer the winner's row (PostgreSQL, where submissions really run at once)."""
    require_service("PostgreSQL", connection.vendor == "postgresql")
    project = make_project(owner=client_account, name="Raced")
    results = all_at_once(4, lambda: popup.subscribe_from_popup(project=project, email="zoe@example.org", phone="+4915112345678", consent=True))
    assert all(isinstance(r, Subscriber) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Subscriber.objects.filter(project=project).count() == 1


# --- the rate per project ------------------------------------------------------------------------------


def test_issue17_past_the_project_rate_the_form_answers_429_from_any_address_and_stores_nothing(project, client_account, settings):
    settings.POPUP_PROJECT_RATE = "3/min"
    codes = [subscribe(project, ip=f"203.0.113.{n}", email=f"p{n}@example.org").status_code for n in range(3)]
    refused = subscribe(project, ip="203.0.113.99", email="late@example.org")
    assert codes == [200, 200, 200]
    assert refused.status_code == 429 and refused.json()["code"] == "popup_rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Access-Control-Allow-Origin"] == "*"  # the site's script can read the refusal
    assert not Subscriber.objects.filter(email="late@example.org").exists()
    assert Subscriber.objects.filter(project=project).count() == 3
    # Another project's form has its own budget.
    other = make_project(owner=client_account, name="Other")
    assert subscribe(other, ip="203.0.113.99", email="late@example.org").status_code == 200


def test_issue17_the_project_rate_counts_again_in_the_next_window(project, settings, monkeypatch):
    settings.POPUP_PROJECT_RATE = "1/min"
    start = timezone.now().replace(second=0, microsecond=0)
    monkeypatch.setattr(popup.timezone, "now", lambda: start + datetime.timedelta(seconds=10))
    assert subscribe(project, email="a@example.org").status_code == 200
    refused = subscribe(project, email="b@example.org")
    assert refused.status_code == 429 and refused["Retry-After"] == "50" and "50 seconds" in refused.json()["detail"]
    monkeypatch.setattr(popup.timezone, "now", lambda: start + datetime.timedelta(seconds=61))
    assert subscribe(project, email="b@example.org").status_code == 200


def test_issue17_bad_input_is_not_counted_against_the_project(project, settings):
    settings.POPUP_PROJECT_RATE = "1/min"
    for _ in range(3):
        assert subscribe(project, email="info@example.org").status_code == 400
    assert subscribe(project, email="zoe@example.org").status_code == 200


# --- the honeypot ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("trap", ["http://spam.example", "x"])
def test_issue17_a_filled_honeypot_answers_success_and_stores_nothing(project, trap):
    response = subscribe(project, email="bot@example.org", website=trap)
    assert response.status_code == 200 and response.json() == SUCCESS
    assert not Subscriber.objects.exists()


def test_issue17_a_filled_honeypot_brings_no_one_back(project):
    sub = make_subscriber(project=project, email="zoe@example.org")
    services.unsubscribe(subscriber=sub, actor=project.owner)
    assert subscribe(project, email="zoe@example.org", website="x").json() == SUCCESS
    sub.refresh_from_db()
    assert sub.status == "unsubscribed"


def test_issue17_an_empty_honeypot_is_a_person(project):
    assert subscribe(project, email="zoe@example.org", website="").status_code == 200
    assert rows(project) == [("zoe@example.org", "", "active", "popup")]


def test_issue17_the_honeypot_is_in_the_public_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["components"]["schemas"]
    popup_input = next(v for k, v in body.items() if k.startswith("PopupInput"))
    assert "website" in popup_input["properties"] and "website" not in popup_input.get("required", [])


# --- marked by source, and undone by staff ------------------------------------------------------------


T0 = datetime.datetime(2026, 5, 4, 12, 0, tzinfo=datetime.UTC)


def at(subscriber, moment, *, made=None):
    Subscriber.objects.filter(pk=subscriber.pk).update(subscribed_at=moment, consent_at=moment, created_at=made or moment)
    return subscriber


@pytest.fixture
def flood(project, client_account):
    """Three pop-up rows in the window 12:00-12:10, one before it, one re-subscribed by the form in
    it, one unsubscribed in it, one from the API in it; and a pop-up row of another project."""
    made = {}
    for n in range(3):
        subscribe(project, email=f"flood{n}@example.org")
        made[f"flood{n}"] = at(Subscriber.objects.get(email=f"flood{n}@example.org"), T0 + datetime.timedelta(minutes=n))
    subscribe(project, email="early@example.org")
    made["early"] = at(Subscriber.objects.get(email="early@example.org"), T0 - datetime.timedelta(days=2))
    left = make_subscriber(project=project, email="left@example.org")
    services.unsubscribe(subscriber=left, actor=project.owner)
    at(left, T0 - datetime.timedelta(days=30))
    subscribe(project, email="left@example.org")  # the form brings back someone who had left
    made["resubscribed"] = at(left, T0 + datetime.timedelta(minutes=4), made=T0 - datetime.timedelta(days=30))
    subscribe(project, email="gone@example.org")
    gone = Subscriber.objects.get(email="gone@example.org")
    services.unsubscribe(subscriber=gone, actor=project.owner)
    made["gone"] = at(gone, T0 + datetime.timedelta(minutes=5))
    made["api"] = at(make_subscriber(project=project, email="api@example.org"), T0 + datetime.timedelta(minutes=6))
    other = make_project(owner=client_account, name="Other")
    subscribe(other, email="flood0@example.org")
    made["other"] = at(Subscriber.objects.get(project=other), T0 + datetime.timedelta(minutes=1))
    return made


def test_issue17_popup_subscribers_are_marked_by_source_and_when_made(project):
    subscribe(project, email="zoe@example.org")
    sub = Subscriber.objects.get()
    assert sub.source == "popup" and sub.created_at is not None and sub.consent_source.startswith(popup.CONSENT_SOURCE)


def test_issue17_remove_popup_flood_deletes_what_the_form_added_in_the_window(project, flood, staff):
    done = popup.remove_popup_flood(project=project, start=T0, end=T0 + datetime.timedelta(minutes=10), actor=staff, reason="Bot flood")
    assert done == popup.Flood(removed=3, unsubscribed=1)
    assert not Subscriber.objects.filter(pk__in=[flood[f"flood{n}"].pk for n in range(3)]).exists()
    left = Subscriber.objects.get(pk=flood["resubscribed"].pk)
    assert left.status == "unsubscribed" and left.unsubscribed_at is not None  # their leaving stands
    for kept in ("early", "gone", "api", "other"):
        assert Subscriber.objects.filter(pk=flood[kept].pk).exists(), kept
    assert Subscriber.objects.get(pk=flood["other"].pk).status == "active"
    entry = AuditLog.objects.get(action="subscribers.popup_flood_removed")
    assert entry.actor == staff and entry.client == project.owner and entry.target_id == str(project.pk)
    assert entry.details["removed"] == 3 and entry.details["unsubscribed"] == 1 and entry.details["reason"] == "Bot flood"


@pytest.mark.parametrize(("end", "reason", "field"), [(T0 - datetime.timedelta(seconds=1), "Bot flood", "end"), (T0, "  ", "reason")])
def test_issue17_remove_popup_flood_refuses_a_backward_window_or_no_reason(project, flood, staff, end, reason, field):
    from django.core.exceptions import ValidationError

    before = rows(project)
    with pytest.raises(ValidationError) as refused:
        popup.remove_popup_flood(project=project, start=T0, end=end, actor=staff, reason=reason)
    assert field in refused.value.message_dict
    assert rows(project) == before and not AuditLog.objects.filter(action="subscribers.popup_flood_removed").exists()


def window(start, end) -> dict:
    local = lambda moment: timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    return {"start": local(start), "end": local(end)}


def test_issue17_staff_remove_a_flood_from_the_subscriber_list_after_a_confirmation(client, staff, project, flood):
    client.force_login(staff)
    chosen = {"action": "remove_popup_flood", "_selected_action": [flood["flood0"].pk, flood["flood2"].pk]}
    page = client.post(SUBSCRIBERS, chosen)
    assert page.status_code == 200 and Subscriber.objects.filter(project=project).count() == 7  # asked first, nothing done
    text = page.content.decode()
    assert "pop-up subscribers deleted: 3; re-subscribed by the form, unsubscribed again: 0." in text  # prefilled from the selection: 12:00 to 12:02
    form = page.context["flood_form"]
    assert form.initial["start"] == window(T0, T0)["start"] and form.initial["end"] == window(T0, T0 + datetime.timedelta(minutes=2))["end"]
    # Staff widen the window on the page: counted again, not done yet.
    wider = {**chosen, "_selected_action": page.context["ids"], "post": "yes", "reason": "Bot flood", "shown": form.initial["shown"],
             **window(T0, T0 + datetime.timedelta(minutes=10))}
    page = client.post(SUBSCRIBERS, wider)
    assert page.status_code == 200 and "deleted: 3; re-subscribed by the form, unsubscribed again: 1." in page.content.decode()
    assert Subscriber.objects.filter(project=project).count() == 7
    # Confirmed for the window shown.
    done = client.post(SUBSCRIBERS, {**wider, "shown": page.context["flood_form"]["shown"].value()})
    assert done.status_code == 302
    assert Subscriber.objects.filter(project=project).count() == 4
    assert AuditLog.objects.filter(action="subscribers.popup_flood_removed", actor=staff).count() == 1


def test_issue17_the_flood_page_asks_again_without_a_reason(client, staff, project, flood):
    client.force_login(staff)
    chosen = {"action": "remove_popup_flood", "_selected_action": [flood["flood0"].pk]}
    shown = client.post(SUBSCRIBERS, chosen).context["flood_form"].initial
    page = client.post(SUBSCRIBERS, {**chosen, "post": "yes", "start": shown["start"], "end": shown["end"], "shown": shown["shown"], "reason": ""})
    assert page.status_code == 200 and page.context["flood_form"].errors["reason"]
    assert Subscriber.objects.filter(project=project).count() == 7
    assert not AuditLog.objects.filter(action="subscribers.popup_flood_removed").exists()


def test_issue17_staff_without_the_subscriber_permission_cannot_remove_a_flood(client, project, flood):
    from tests.projects.test_admin import staff_in

    client.force_login(staff_in("support"))
    chosen = {"action": "remove_popup_flood", "_selected_action": [flood["flood0"].pk], "post": "yes", "reason": "x", **window(T0, T0)}
    client.post(SUBSCRIBERS, chosen)
    assert Subscriber.objects.filter(project=project).count() == 7
