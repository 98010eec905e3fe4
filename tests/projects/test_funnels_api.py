"""The REST API of funnels, broadcasts and the bot (API.md "Funnels and sending"): PRJ-6's
validation answers 400 with the reason and stores nothing, PRJ-1's `funnels`, `messages` and
`settings` sections decide who reads and who changes, MSG-1's broadcasts answer their counts."""

import pytest
from rest_framework.test import APIClient

from accounts import services as accounts
from projects.models import Block, Broadcast, Funnel, ProjectBot, Subscriber
from tests.factories import add_member, api_as, make_client, make_project
from tests.projects.funnel_kit import TOKEN

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Welcome",
    "start": "hello",
    "blocks": [
        {"key": "hello", "kind": "message", "text": "Hi!", "buttons": [{"text": "More", "next": "more"}]},
        {"key": "more", "kind": "message", "text": "Here is more.", "next": "wait"},
        {"key": "wait", "kind": "delay", "delay_seconds": 60, "next": "tag"},
        {"key": "tag", "kind": "action", "action": "add_tag", "tag": "curious", "next": "check"},
        {"key": "check", "kind": "condition", "tag": "vip", "next": "hello", "else_next": "more"},
    ],
}


def url(project, funnel=None) -> str:
    base = f"/api/v1/projects/{project.pk}/funnels/"
    return f"{base}{funnel}/" if funnel else base


@pytest.fixture
def owner_api(client_account):
    return api_as(client_account)


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def test_prj6_a_valid_funnel_is_stored_and_answered(owner_api, project):
    response = owner_api.post(url(project), GOOD, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["start"], [b["key"] for b in body["blocks"]]) == ("Welcome", "hello", ["hello", "more", "wait", "tag", "check"])
    assert body["blocks"][0]["buttons"] == [{"text": "More", "next": "more"}]
    assert owner_api.get(url(project, body["id"])).json()["blocks"] == body["blocks"]
    assert owner_api.get(url(project)).json()["results"][0]["id"] == body["id"]


def _with(**change) -> dict:
    funnel = {**GOOD, "blocks": [dict(b) for b in GOOD["blocks"]]}
    for path, value in change.items():
        index, _, field = path.partition("__")
        if index == "funnel":
            funnel[field] = value
        else:
            funnel["blocks"][int(index[1:])][field] = value
    return funnel


INVALID = {
    "a button to a missing block": (_with(b0__buttons=[{"text": "Go", "next": "nowhere"}]), "nowhere"),
    "a next to a missing block": (_with(b1__next="gone"), "gone"),
    "a start that is no block": (_with(funnel__start="nope"), "start block"),
    "two blocks with one key": (_with(b1__key="hello"), "Two blocks"),
    "a message without text": (_with(b1__text="  "), "no text"),
    "a message both waiting and going on": (_with(b0__next="more"), "waits for a button"),
    "a delay without next": (_with(b2__next=""), "needs the block"),
    "an action without its tag": (_with(b3__tag=""), "tag"),
    "a condition on both a tag and a field": (_with(b4__field="city"), "either a tag or a field"),
    "a NUL in a text": (_with(b1__text="bad\x00text"), "NUL characters"),
    "an else on a message": (_with(b1__else_next="hello"), "Only a condition"),
    "no blocks": (_with(funnel__blocks=[]), "from 1 to"),
    "eleven buttons": (_with(b0__buttons=[{"text": f"B{i}", "next": "more"} for i in range(11)]), "buttons"),
}


@pytest.mark.parametrize("case", INVALID)
def test_prj6_an_invalid_funnel_is_refused_with_the_reason_and_nothing_is_stored(owner_api, project, case):
    body, reason = INVALID[case]
    response = owner_api.post(url(project), body, format="json")
    assert response.status_code == 400, response.json()
    assert reason.lower() in str(response.json()).lower()
    assert not Funnel.objects.exists() and not Block.objects.exists()


@pytest.mark.parametrize("body", [
    {"name": "x", "start": "a", "blocks": "not a list"},
    {"name": "x", "start": "a", "blocks": [{"key": "a", "kind": "teleport"}]},
    {"name": "x", "start": "a", "blocks": [{"key": "a", "kind": "message", "text": "t" * 4097}]},
    {"name": "x", "start": "a", "blocks": [{"key": "a", "kind": "delay", "delay_seconds": 10**30, "next": "a"}]},
    {"name": "x", "start": "a" * 33, "blocks": [{"key": "a" * 33, "kind": "message", "text": "t"}]},
    {"name": "x", "start": "a", "blocks": [{"key": "a", "kind": "message", "text": "t", "buttons": [{"text": "b" * 65, "next": "a"}]}]},
    ["not", "an", "object"],
])
def test_prj6_a_body_of_the_wrong_shape_is_a_400_and_nothing_is_stored(owner_api, project, body):
    response = owner_api.post(url(project), body, format="json")
    assert response.status_code == 400
    assert not Funnel.objects.exists()


def test_prj6_an_invalid_replacement_leaves_the_stored_funnel_unchanged(owner_api, project):
    created = owner_api.post(url(project), GOOD, format="json").json()
    response = owner_api.put(url(project, created["id"]), _with(b4__else_next="missing", funnel__name="Broken"), format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_funnel" and "missing" in response.json()["detail"]
    assert owner_api.get(url(project, created["id"])).json() == created


def test_prj6_a_valid_replacement_replaces_every_block(owner_api, project):
    created = owner_api.post(url(project), GOOD, format="json").json()
    new = {"name": "Short", "start": "only", "blocks": [{"key": "only", "kind": "message", "text": "Just this."}]}
    response = owner_api.put(url(project, created["id"]), new, format="json")
    assert response.status_code == 200
    assert [b["key"] for b in response.json()["blocks"]] == ["only"] and Block.objects.count() == 1
    assert owner_api.delete(url(project, created["id"])).status_code == 204
    assert not Funnel.objects.exists() and not Block.objects.exists()


def test_prj1_funnels_follow_the_section(owner_api, project, client_account):
    created = owner_api.post(url(project), GOOD, format="json").json()
    viewer, stranger, other_section = (make_client(email=e) for e in ("viewer@example.com", "stranger@example.com", "subs@example.com"))
    add_member(project=project, client=viewer, funnels="view")
    add_member(project=project, client=other_section, subscribers="full")
    as_viewer = api_as(viewer)
    assert as_viewer.get(url(project, created["id"])).status_code == 200
    assert as_viewer.put(url(project, created["id"]), GOOD, format="json").status_code == 403
    assert as_viewer.post(url(project), GOOD, format="json").status_code == 403
    assert as_viewer.delete(url(project, created["id"])).status_code == 403
    assert api_as(other_section).get(url(project)).status_code == 403
    assert api_as(stranger).get(url(project, created["id"])).status_code == 404
    assert api_as(stranger).put(url(project, created["id"]), GOOD, format="json").status_code == 404
    assert APIClient().get(url(project)).status_code == 401
    other = make_project(owner=stranger, name="Theirs")
    assert owner_api.get(url(other)).status_code == 404
    assert owner_api.get(url(project, created["id"] + 1000)).status_code == 404
    assert Funnel.objects.get().name == "Welcome"


def test_acc3_a_blocked_owner_reads_its_funnels_but_changes_none(owner_api, project, client_account):
    created = owner_api.post(url(project), GOOD, format="json").json()
    accounts.block(client=client_account, reason="funnel_loop")
    assert owner_api.get(url(project, created["id"])).status_code == 200
    response = owner_api.put(url(project, created["id"]), {**GOOD, "name": "Changed"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"
    assert Funnel.objects.get().name == "Welcome"


def test_msg1_the_broadcast_api_answers_its_counts(owner_api, project, telegram, django_capture_on_commit_callbacks):
    from tests.projects.funnel_kit import connect

    connect(project)
    Subscriber.objects.create(project=project, messenger="telegram", messenger_user_id="42", source="telegram", consent_at="2026-12-01T10:00Z",
                              consent_source="Telegram /start", subscribed_at="2026-12-01T10:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(f"/api/v1/projects/{project.pk}/broadcasts/", {"text": "News"}, format="json")
    assert response.status_code == 202, response.json()
    assert {"id", "status", "recipients"} <= set(response.json()) and response.json()["recipients"] == 1
    detail = owner_api.get(f"/api/v1/projects/{project.pk}/broadcasts/{response.json()['id']}/").json()
    assert (detail["status"], detail["recipients"], detail["sent"], detail["failed"], detail["blocked"]) == ("done", 1, 1, 0, 0)


def test_msg1_broadcasts_follow_the_messages_section(owner_api, project, telegram):
    from tests.projects.funnel_kit import connect

    connect(project)
    reader = make_client(email="reader@example.com")
    add_member(project=project, client=reader, messages="view")
    assert api_as(reader).post(f"/api/v1/projects/{project.pk}/broadcasts/", {"text": "Mine"}, format="json").status_code == 403
    assert api_as(reader).get(f"/api/v1/projects/{project.pk}/broadcasts/").status_code == 200
    assert not Broadcast.objects.exists()
    response = owner_api.post(f"/api/v1/projects/{project.pk}/broadcasts/", {"text": "x" * 5000}, format="json")
    assert response.status_code == 400 and not Broadcast.objects.exists()


def test_the_bot_api_connects_and_never_shows_the_token(owner_api, project, telegram, settings):
    settings.SITE_URL = "https://platform.example"
    response = owner_api.put(f"/api/v1/projects/{project.pk}/bot/", {"token": TOKEN}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "test_777001_bot" and TOKEN not in response.content.decode()
    shown = owner_api.get(f"/api/v1/projects/{project.pk}/bot/")
    assert shown.status_code == 200 and TOKEN not in shown.content.decode()
    refused = owner_api.put(f"/api/v1/projects/{project.pk}/bot/", {"token": "999:AAH-not-known-token-0123456789abcd"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_bot_token"
    assert ProjectBot.objects.get().username == "test_777001_bot"
