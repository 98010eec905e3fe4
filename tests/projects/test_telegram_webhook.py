"""PRJ-3 through the Telegram webhook, fed real Bot API Updates built by python-telegram-bot."""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from telegram import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from accounts import services as accounts
from projects.models import Project, Subscriber, TelegramUpdate
from tests.factories import make_project

pytestmark = pytest.mark.django_db

SENT = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
BOT = User(id=999, first_name="ShopBot", is_bot=True, username="shop_bot")
_ids = itertools.count(1000)


def person(user_id: int = 42) -> User:
    return User(id=user_id, first_name="Ann", last_name="Lee", is_bot=False, username="annlee")


def text_update(text: str, *, user: User | None = None, update_id: int | None = None) -> Update:
    user = user or person()
    entities = []
    if text.startswith("/"):
        entities = [MessageEntity(type=MessageEntity.BOT_COMMAND, offset=0, length=len(text.split(" ")[0]))]
    message = Message(
        message_id=next(_ids), date=SENT, chat=Chat(id=user.id, type=Chat.PRIVATE), from_user=user, text=text, entities=entities
    )
    return Update(update_id=update_id or next(_ids), message=message)


def blocked_bot(*, user: User | None = None) -> Update:
    user = user or person()
    change = ChatMemberUpdated(
        chat=Chat(id=user.id, type=Chat.PRIVATE), from_user=user, date=SENT,
        old_chat_member=ChatMemberMember(user=BOT), new_chat_member=ChatMemberBanned(user=BOT, until_date=SENT),
    )
    return Update(update_id=next(_ids), my_chat_member=change)


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def post(client, project, update, *, secret=None, raw: bytes | None = None):
    body = raw if raw is not None else update.to_json()
    headers = {} if secret is False else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret or project.telegram_secret}
    return client.post(project.telegram_webhook_path, data=body, content_type="application/json", **headers)


def subscriber(project, user_id: int = 42) -> Subscriber:
    return Subscriber.objects.get(project=project, messenger="telegram", messenger_user_id=str(user_id))


def test_prj3_start_subscribes_with_consent_time_and_source(client, project):
    response = post(client, project, text_update("/start"))
    assert response.status_code == 200
    sub = subscriber(project)
    assert (sub.status, sub.source, sub.name) == ("active", "telegram", "Ann Lee")
    assert sub.consent_at is not None and sub.consent_source == "Telegram /start"
    assert sub.subscribed_at is not None and sub.unsubscribed_at is None


def test_prj3_start_with_a_deep_link_payload_subscribes_and_keeps_the_payload(client, project):
    post(client, project, text_update("/start promo-winter"))
    assert subscriber(project).consent_source == "Telegram /start (promo-winter)"


def test_prj3_start_stop_start_again(client, project):
    post(client, project, text_update("/start"))
    assert post(client, project, text_update("stop")).status_code == 200
    left = subscriber(project)
    assert left.status == "unsubscribed" and left.unsubscribed_at is not None

    post(client, project, text_update("/start"))
    back = subscriber(project)
    assert back.status == "active" and back.unsubscribed_at is None
    assert back.subscribed_at > left.subscribed_at or back.subscribed_at >= left.unsubscribed_at
    assert Subscriber.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("text", ["stop", "/stop", "STOP", "/stop@shop_bot"])
def test_prj3_stop_and_slash_stop_unsubscribe(client, project, text):
    post(client, project, text_update("/start"))
    post(client, project, text_update(text))
    assert subscriber(project).status == "unsubscribed"


def test_prj3_blocking_the_bot_kicked_unsubscribes(client, project):
    post(client, project, text_update("/start"))
    assert post(client, project, blocked_bot()).status_code == 200
    assert subscriber(project).status == "unsubscribed"


def test_prj3_a_second_start_of_an_active_subscriber_changes_nothing(client, project):
    post(client, project, text_update("/start"))
    first = subscriber(project)
    post(client, project, text_update("/start again"))
    again = subscriber(project)
    assert (again.subscribed_at, again.consent_source) == (first.subscribed_at, first.consent_source)


def test_prj3_replay_of_one_update_id_changes_nothing(client, project):
    start = text_update("/start", update_id=7001)
    post(client, project, start)
    post(client, project, text_update("/stop", update_id=7002))
    # Telegram re-delivers the /start (it never saw our 2xx): the person stays unsubscribed.
    assert post(client, project, start).status_code == 200
    assert subscriber(project).status == "unsubscribed"
    assert TelegramUpdate.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    "update",
    [
        lambda: Update(update_id=next(_ids), edited_message=Message(
            message_id=1, date=SENT, edit_date=SENT, chat=Chat(id=42, type="private"), from_user=person(), text="/start")),
        lambda: Update(update_id=next(_ids), callback_query=CallbackQuery(id="cb1", from_user=person(), chat_instance="ci", data="/start")),
        lambda: Update(update_id=next(_ids), message=Message(
            message_id=2, date=SENT, chat=Chat(id=42, type="private"), from_user=person(),
            photo=[PhotoSize(file_id="f", file_unique_id="u", width=10, height=10)])),
        lambda: text_update("hello there"),
    ],
    ids=["edited_message", "callback_query", "photo", "plain_text"],
)
def test_prj3_other_updates_are_accepted_and_ignored(client, project, update):
    assert post(client, project, update()).status_code == 200
    assert not Subscriber.objects.exists() and not TelegramUpdate.objects.exists()


def test_prj3_an_unknown_kind_of_update_is_accepted_and_ignored(client, project):
    raw = b'{"update_id": 5, "some_future_field": {"x": 1}}'
    assert post(client, project, None, raw=raw).status_code == 200
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("secret", [False, "wrong-secret"], ids=["missing", "wrong"])
def test_prj3_a_wrong_or_missing_secret_is_403_and_stores_nothing(client, project, secret):
    response = post(client, project, text_update("/start"), secret=secret)
    assert response.status_code == 403
    assert not Subscriber.objects.exists() and not TelegramUpdate.objects.exists()


def test_prj3_another_projects_secret_is_refused(client, project, other_account):
    other = make_project(owner=other_account)
    assert post(client, project, text_update("/start"), secret=other.telegram_secret).status_code == 403


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}', b"\xff\xfe"])
def test_prj3_malformed_body_is_400_and_stores_nothing(client, project, raw):
    assert post(client, project, None, raw=raw).status_code == 400
    assert not Subscriber.objects.exists() and not TelegramUpdate.objects.exists()


def test_prj3_unknown_webhook_path_is_404(client, project):
    response = client.post("/webhooks/telegram/no-such-token/", data=text_update("/start").to_json(), content_type="application/json")
    assert response.status_code == 404


def test_prj3_only_post(client, project):
    assert client.get(project.telegram_webhook_path).status_code == 405


@pytest.mark.parametrize("status", [Project.Status.ARCHIVED, Project.Status.SUSPENDED, Project.Status.LOCKED])
def test_prj2_an_inactive_project_records_no_new_subscriber(client, project, status):
    Project.objects.filter(pk=project.pk).update(status=status)
    assert post(client, project, text_update("/start")).status_code == 200
    assert not Subscriber.objects.exists() and not TelegramUpdate.objects.exists()


def test_prj2_an_archived_project_still_honours_a_stop(client, project):
    post(client, project, text_update("/start"))
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ARCHIVED)
    post(client, project, text_update("/stop"))
    assert subscriber(project).status == "unsubscribed"


def test_dun2_a_suspended_owner_records_no_new_subscriber(client, project, client_account):
    accounts.suspend(client=client_account)
    post(client, project, text_update("/start"))
    assert not Subscriber.objects.exists()


def test_acc3_a_blocked_owner_records_no_new_subscriber(client, project, client_account):
    accounts.block(client=client_account, reason="free_limit")
    post(client, project, text_update("/start"))
    assert not Subscriber.objects.exists()


def test_prj3_subscribers_of_two_projects_are_separate(client, project, other_account):
    other = make_project(owner=other_account)
    post(client, project, text_update("/start"))
    post(client, other, text_update("/start"))
    post(client, project, text_update("/stop"))
    assert subscriber(project).status == "unsubscribed" and subscriber(other).status == "active"


def test_prj3_the_webhook_makes_a_bounded_number_of_queries(client, project):
    post(client, project, text_update("/start", user=person(1)))
    with CaptureQueriesContext(connection) as first:
        post(client, project, text_update("/start", user=person(2)))
    with CaptureQueriesContext(connection) as second:
        post(client, project, text_update("/start", user=person(3)))
    assert len(first) == len(second) <= 8
