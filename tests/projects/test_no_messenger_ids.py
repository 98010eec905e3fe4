"""PRJ-4: no API answer a participant or an integration gets holds a messenger user ID."""

import json

import pytest
from django.test import Client as DjangoClient

from projects.access import SECTIONS
from projects.models import Subscriber
from tests.factories import add_member, api_as, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db

TELEGRAM_IDS = ["731945268", "802613579"]


def start(project, user_id: str, update_id: int) -> None:
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1796083200, "text": "/start",
            "chat": {"id": int(user_id), "type": "private"},
            "from": {"id": int(user_id), "is_bot": False, "first_name": "Tele", "last_name": "Gram"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    response = DjangoClient().post(
        project.telegram_webhook_path, json.dumps(update), content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=project.telegram_secret,
    )
    assert response.status_code == 200


def walk(api, project, book_id: int) -> list[tuple[str, bytes]]:
    """Every answer: each GET (and its next pages) and each write's answer."""
    base = f"/api/v1/projects/{project.pk}/"
    answers = []

    def get(url):
        while url:
            response = api.get(url)
            answers.append((url, response.content))
            body = json.loads(response.content) if response["Content-Type"].startswith("application/json") else {}
            url = body.get("next") if isinstance(body, dict) else None

    for url in [
        "/api/v1/projects/", base, base + "statistics/", base + "members/", base + "subscribers/",
        base + "subscribers/?status=active&page_size=1", base + "address-books/", f"{base}address-books/{book_id}/contacts/",
        "/api/v1/me/", "/api/schema/",
    ]:
        get(url)
    for telegram_subscriber in Subscriber.objects.filter(project=project, messenger="telegram"):
        response = api.post(f"{base}subscribers/{telegram_subscriber.pk}/unsubscribe/")
        answers.append(("unsubscribe", response.content))
    for method, url, body in [
        ("post", base + "subscribers/", {"email": "new@example.org", "consent": True}),
        ("post", base + "subscribers/import/", {"consent_confirmed": True, "subscribers": [{"email": "i@example.org"}, {"email": "x"}]}),
        ("patch", base, {"name": "Renamed"}),
        ("post", base + "subscribers/999999/unsubscribe/", None),
    ]:
        answers.append((url, getattr(api, method)(url, body, format="json").content))
    return answers


@pytest.mark.parametrize("who", ["participant", "owner"])
def test_prj4_no_answer_holds_a_messenger_user_id(client_account, who):
    project = make_project(owner=client_account)
    for n, user_id in enumerate(TELEGRAM_IDS):
        start(project, user_id, 5000 + n)
    make_subscriber(project=project, email="maria@example.org")
    assert set(Subscriber.objects.values_list("messenger_user_id", flat=True)) >= set(TELEGRAM_IDS)
    from projects.models import AddressBook

    book = AddressBook.objects.create(project=project, name="Book")
    if who == "participant":
        participant = make_client(email="helper@example.com")
        add_member(project=project, client=participant, **{s: "full" for s in SECTIONS})
        api = api_as(participant)
    else:
        api = api_as(client_account)
    answers = walk(api, project, book.pk)
    assert len(answers) >= 14
    for url, content in answers:
        text = content.decode()
        for user_id in TELEGRAM_IDS:
            assert user_id not in text, f"{url} shows a messenger user ID"
        assert "messenger_user_id" not in text, url
