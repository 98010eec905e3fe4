"""Issue 17, item 1: the Telegram webhook under hostile Updates. Ids are integers in range and text
is text a column holds, or the Update is refused and acknowledged (200, nothing stored), so that
Telegram stops re-sending it; a body that is no Update at all is 4xx; nothing is ever a 500. The
Updates are python-telegram-bot's, with one field spoilt the way a forger would."""

import json

import pytest

from projects.models import Subscriber, TelegramUpdate
from tests.core.hostile import BAD_TEXT, nothing_stored
from tests.factories import make_project
from tests.projects.test_telegram_webhook import person, text_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def start(**changes) -> dict:
    """A real `/start` Update as a dict, with `changes` applied to its `from` (or, with the key
    `update_id` or `text`, to those)."""
    update = text_update("/start", user=person(42)).to_dict()
    message = update["message"]
    if "update_id" in changes:
        update["update_id"] = changes.pop("update_id")
    if "text" in changes:
        message["text"] = changes.pop("text")
    message["from"].update(changes)
    return update


def send(client, project, body):
    raw = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=True)
    return client.post(project.telegram_webhook_path, data=raw, content_type="application/json",
                       HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=project.telegram_secret)


def assert_acknowledged_and_refused(response, *words):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == "refused" and "nothing stored" in body["detail"]
    for word in words:
        assert word in body["detail"], body


@pytest.mark.parametrize("user_id", [{"x": 1}, None, True, 1.5, "42", 0, -5, 2**63, 2**70], ids=repr)
def test_issue17_a_from_id_that_is_no_user_id_is_refused_and_acknowledged(client, project, user_id):
    """The old webhook stored such an id as the text `{'x': 1}`, `None`, `True`, `1.5`."""
    with nothing_stored():
        response = send(client, project, start(id=user_id))
    assert_acknowledged_and_refused(response, "from")
    assert not Subscriber.objects.exists() and not TelegramUpdate.objects.exists()


@pytest.mark.parametrize("kind", BAD_TEXT)
@pytest.mark.parametrize("where", ["first_name", "last_name", "text"])
def test_issue17_bad_text_in_a_name_or_the_start_text_is_refused_and_acknowledged(client, project, kind, where):
    bad = "Ann" + BAD_TEXT[kind] if where != "text" else "/start promo" + BAD_TEXT[kind]
    with nothing_stored():
        response = send(client, project, start(**{where: bad}))
    assert_acknowledged_and_refused(response, "NUL" if kind == "nul" else "surrogate", where)


def test_issue17_a_name_that_is_not_text_is_refused(client, project):
    with nothing_stored():
        response = send(client, project, start(first_name={"evil": True}))
    assert_acknowledged_and_refused(response, "first_name")


@pytest.mark.parametrize("update_id", [2**63, 2**70, -1, 1.0, True, None])
def test_issue17_an_update_id_no_bigint_holds_is_400(client, project, update_id):
    """The update_id is what the update is claimed by: one we could not store is no Update."""
    with nothing_stored():
        response = send(client, project, start(update_id=update_id))
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert "9223372036854775807" in response.json()["detail"]


def test_issue17_an_update_nested_100000_deep_is_400(client, project):
    with nothing_stored():
        response = send(client, project, '{"update_id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_issue17_an_update_deeper_than_the_limit_is_refused(client, project):
    with nothing_stored():
        response = send(client, project, '{"update_id": 1, "x": ' + "[" * 40 + "]" * 40 + "}")
    assert_acknowledged_and_refused(response, "nested deeper")


def test_issue17_a_body_past_the_limit_is_413(client, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    with nothing_stored():
        response = send(client, project, start(first_name="A" * 20_000))
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_issue17_a_good_update_after_the_refused_ones_subscribes_as_before(client, project):
    send(client, project, start(id=True))
    send(client, project, start(first_name="A\x00"))
    assert send(client, project, start()).status_code == 200
    assert list(Subscriber.objects.values_list("messenger_user_id", "name")) == [("42", "Ann Lee")]
