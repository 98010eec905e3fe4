"""What the funnel and sending tests share: a project with a connected bot talking to the local
Bot API (tests/bot_api.py), real Bot API Updates posted to its webhook, and funnels to run."""

import itertools
import json

import pytest
from telegram import CallbackQuery, Chat, Message, MessageEntity, Update, User

from core.crypto import encrypt
from projects.funnels import services as funnels
from projects.funnels.spec import BlockSpec, ButtonSpec, FunnelSpec
from projects.models import ProjectBot
from tests.bot_api import BotApi
from tests.factories import make_project

TOKEN = "777001:AAH-local-test-token-0123456789ab"
BOT_ID = 777001
BOT = User(id=BOT_ID, first_name="ShopBot", is_bot=True, username="shop_bot")
_ids = itertools.count(5000)


@pytest.fixture
def telegram(settings):
    """The local Bot API, answering for TOKEN; the Telegram channel pointed at it (MSG-1)."""
    with BotApi(tokens={TOKEN}) as api:
        settings.TELEGRAM_API_BASE_URL = api.url
        settings.TELEGRAM_TIMEOUT_SECONDS = 0.5
        settings.MESSAGING_LIMITER_URL = ""  # each test its own limiter, in the process
        # A funnel's messages to one chat would wait a second each; the limiter's own tests keep it.
        settings.TELEGRAM_PER_CHAT_PER_SECOND = 1000
        yield api


def connect(project) -> ProjectBot:
    """A bot as `connect_bot` leaves it, without the round trip to Telegram."""
    return ProjectBot.objects.create(project=project, token_encrypted=encrypt(TOKEN), bot_id=BOT_ID, username="shop_bot", name="ShopBot")


@pytest.fixture
def bot_project(client_account):
    project = make_project(owner=client_account)
    connect(project)
    return project


def person(user_id: int = 42) -> User:
    return User(id=user_id, first_name="Ann", is_bot=False)


def text(project_text: str, *, user_id: int = 42) -> dict:
    user = person(user_id)
    entities = [MessageEntity(type=MessageEntity.BOT_COMMAND, offset=0, length=len(project_text.split(" ")[0]))] if project_text.startswith("/") else []
    message = Message(message_id=next(_ids), date=_now(), chat=Chat(id=user_id, type=Chat.PRIVATE), from_user=user, text=project_text,
                      entities=entities)
    return Update(update_id=next(_ids), message=message).to_dict()


def press(data: str, *, user_id: int = 42, message_id: int = 1) -> dict:
    user = person(user_id)
    held = Message(message_id=message_id, date=_now(), chat=Chat(id=user_id, type=Chat.PRIVATE), from_user=BOT, text="…")
    return Update(update_id=next(_ids), callback_query=CallbackQuery(id=str(next(_ids)), from_user=user, chat_instance="c", data=data,
                                                                     message=held)).to_dict()


def _now():
    from django.utils import timezone

    return timezone.now()


def post(client, project, update: dict, capture):
    """POST an Update to the project's webhook and run what it enqueued (the inline Celery)."""
    with capture(execute=True):
        response = client.post(project.telegram_webhook_path, data=json.dumps(update), content_type="application/json",
                               HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=project.telegram_secret)
    assert response.status_code == 200
    return response


def block(key: str, kind: str = "message", **fields) -> BlockSpec:
    if "buttons" in fields:
        fields["buttons"] = tuple(ButtonSpec(t, n) for t, n in fields["buttons"])
    if kind == "message":
        fields.setdefault("text", f"Block {key}")
    return BlockSpec(key=key, kind=kind, **fields)


def make_funnel(project, *blocks: BlockSpec, start: str | None = None, name: str = "Welcome"):
    return funnels.create_funnel(project=project, actor=project.owner, spec=FunnelSpec(name=name, start=start or blocks[0].key, blocks=blocks))
