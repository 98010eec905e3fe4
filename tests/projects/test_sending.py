"""MSG-1 against the local Bot API: a `429` waits its `retry_after`, a `403` means the subscriber
blocked the bot and has left (PRJ-3), a transient failure is retried with backoff, a refusal is
stored with its outcome; and the bot is connected with getMe and setWebhook (its token encrypted)."""

import pytest

from compliance.models import AuditLog
from core.exceptions import RuleRefused
from projects.models import OutboundMessage, ProjectBot, Subscriber
from projects.sending import bots, messages
from tests.factories import make_project
from tests.projects.funnel_kit import BOT_ID, TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber(bot_project):
    return Subscriber.objects.create(project=bot_project, messenger="telegram", messenger_user_id="42", source="telegram", consent_at="2026-12-01T10:00Z",
                                     consent_source="Telegram /start", subscribed_at="2026-12-01T10:00Z")


def queued(subscriber, text="Hello", buttons=()) -> OutboundMessage:
    return OutboundMessage.objects.create(project=subscriber.project, subscriber=subscriber, text=text, buttons=list(buttons))


def test_msg1_a_message_goes_out_and_is_stored_as_sent(subscriber, telegram):
    message = queued(subscriber, buttons=[{"text": "Go", "next": "b"}])
    assert messages.send_in_order([message.pk]) is None
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at is not None) == ("sent", 1, True)
    [body] = telegram.sent()
    assert body == {"chat_id": "42", "text": "Hello", "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "b"}]]}}


def test_msg1_a_429_is_retried_after_retry_after(subscriber, telegram):
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    message = queued(subscriber)
    later = messages.send_in_order([message.pk])
    assert later is not None and later.ids == [message.pk] and later.seconds == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert messages.send_in_order(later.ids) is None  # the limiter holds the bot for the second Telegram asked
    first, second = telegram.calls("sendMessage")
    assert second.arrived_at - first.arrived_at >= 0.95
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)


def test_prj3_a_403_means_the_subscriber_blocked_the_bot_and_left(subscriber, telegram):
    telegram.fail_chat("42", status=403)
    first, second = queued(subscriber, "one"), queued(subscriber, "two")
    assert messages.send_in_order([first.pk, second.pk]) is None
    first.refresh_from_db(), second.refresh_from_db(), subscriber.refresh_from_db()
    assert (first.status, second.status, subscriber.status) == ("blocked", "skipped", "unsubscribed")
    assert len(telegram.sent()) == 1  # the second never went


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_msg1_a_transient_failure_backs_off_and_then_fails_for_good(subscriber, telegram, fault):
    message = queued(subscriber)
    if fault == "500":
        telegram.fail_next("sendMessage", status=500, times=messages.MAX_ATTEMPTS)
    else:
        telegram.delay_next("sendMessage", 1.0, times=messages.MAX_ATTEMPTS)
    waits = []
    for _ in range(messages.MAX_ATTEMPTS):
        later = messages.send_in_order([message.pk])
        waits.append(later.seconds if later else 0)
        OutboundMessage.objects.filter(pk=message.pk).update(claimed_at=None)
    message.refresh_from_db()
    assert waits == [1, 2, 4, 8, 16, 0]  # doubling, then given up
    assert (message.status, message.attempts) == ("failed", messages.MAX_ATTEMPTS) and message.error


def test_msg1_a_refused_message_is_stored_failed_with_telegrams_reason(subscriber, telegram):
    telegram.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    message = queued(subscriber)
    assert messages.send_in_order([message.pk]) is None
    message.refresh_from_db()
    assert (message.status, message.error) == ("failed", "Bad Request: chat not found")


def test_msg1_a_message_sent_is_never_sent_again(subscriber, telegram):
    message = queued(subscriber)
    messages.send_in_order([message.pk])
    messages.send_in_order([message.pk])  # a retried task
    assert len(telegram.sent()) == 1


def test_connect_bot_calls_getme_and_setwebhook_and_keeps_the_token_encrypted(client_account, telegram, settings):
    settings.SITE_URL = "https://platform.example"
    project = make_project(owner=client_account)
    bot = bots.connect_bot(project=project, actor=client_account, token=TOKEN)
    assert (bot.username, bot.name, bot.bot_id) == (f"test_{BOT_ID}_bot", f"Test Bot {BOT_ID}", BOT_ID)
    [hook] = telegram.calls("setWebhook")
    assert hook.body["url"] == "https://platform.example" + project.telegram_webhook_path
    assert hook.body["secret_token"] == project.telegram_secret
    stored = ProjectBot.objects.get(project=project)
    assert TOKEN not in stored.token_encrypted and bots.token_of(stored) == TOKEN
    assert TOKEN not in str(AuditLog.objects.get(action="project.bot_connected").details)


@pytest.mark.parametrize("token", ["not a token", "123:short", "999999:AAH-unknown-token-0123456789abcd", "1:" + "a" * 30 + "\x00"])
def test_connect_bot_refuses_a_bad_token_and_stores_nothing(client_account, telegram, token):
    project = make_project(owner=client_account)
    with pytest.raises(RuleRefused) as refused:
        bots.connect_bot(project=project, actor=client_account, token=token)
    assert (refused.value.code, refused.value.status) == ("invalid_bot_token", 400)
    assert not ProjectBot.objects.exists() and not telegram.calls("setWebhook")


def test_connect_bot_when_telegram_does_not_answer_is_a_503_and_stores_nothing(client_account, telegram):
    project = make_project(owner=client_account)
    telegram.fail_next("getMe", status=502)
    with pytest.raises(RuleRefused) as refused:
        bots.connect_bot(project=project, actor=client_account, token=TOKEN)
    assert (refused.value.code, refused.value.status) == ("telegram_unavailable", 503)
    assert not ProjectBot.objects.exists()


def test_connect_bot_says_so_when_telegram_refuses_the_webhook_address(client_account, telegram, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"  # a development server: Telegram wants public HTTPS
    project = make_project(owner=client_account)
    with pytest.raises(RuleRefused) as refused:
        bots.connect_bot(project=project, actor=client_account, token=TOKEN)
    assert (refused.value.code, refused.value.status) == ("webhook_refused", 400) and "HTTPS" in refused.value.detail
    assert not ProjectBot.objects.exists()
