"""The Telegram channel (MSG-1) against a local server that plays the Bot API (tests/bot_api.py):
nothing in the adapter is patched, every call goes over HTTP."""

import logging
import socket

import httpx
import pytest

from projects.channels import BotIdentity, Button, ChannelRefused, ChannelUnavailable, Outcome, Outgoing, get_channel
from projects.channels.telegram import TelegramChannel, scrub
from tests.bot_api import TOKEN

UNKNOWN = "654321:NOPE"


@pytest.fixture
def channel():
    return TelegramChannel()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_msg1_send_reaches_the_bot_api_with_chat_text_and_one_button_per_row(bot_api, channel):
    message = Outgoing(chat_id="731945268", text="Hello there", buttons=(Button("Yes", "answer:yes"), Button("No", "answer:no")))
    delivery = channel.send(token=TOKEN, message=message)

    assert delivery.outcome == Outcome.SENT and delivery.sent
    assert delivery.message_id == "1" and delivery.error == ""
    [call] = bot_api.calls("sendMessage")
    assert call.token == TOKEN
    assert call.body == {
        "chat_id": "731945268",
        "text": "Hello there",
        "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "answer:yes"}], [{"text": "No", "callback_data": "answer:no"}]]},
    }


def test_msg1_send_without_buttons_has_no_keyboard_and_message_ids_increase(bot_api, channel):
    first = channel.send(token=TOKEN, message=Outgoing(chat_id="1", text="one"))
    second = channel.send(token=TOKEN, message=Outgoing(chat_id="2", text="two"))

    assert (first.message_id, second.message_id) == ("1", "2")
    assert bot_api.sent() == [{"chat_id": "1", "text": "one"}, {"chat_id": "2", "text": "two"}]


def test_msg1_a_429_answers_retry_with_telegrams_retry_after(bot_api, channel):
    bot_api.fail_next("sendMessage", status=429, retry_after=7)
    delivery = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi"))

    assert delivery.outcome == Outcome.RETRY
    assert delivery.retry_after == 7
    assert delivery.error == "Too Many Requests: retry after 7"
    assert channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).sent  # only the next one


def test_msg1_prj3_a_403_answers_blocked(bot_api, channel):
    bot_api.fail_chat("77")
    bot_api.fail_next("sendMessage", chat_id="78", status=403, description="Forbidden: user is deactivated")

    blocked = channel.send(token=TOKEN, message=Outgoing(chat_id="77", text="hi"))
    deactivated = channel.send(token=TOKEN, message=Outgoing(chat_id="78", text="hi"))

    assert (blocked.outcome, blocked.error) == (Outcome.BLOCKED, "Forbidden: bot was blocked by the user")
    assert (deactivated.outcome, deactivated.error) == (Outcome.BLOCKED, "Forbidden: user is deactivated")
    assert channel.send(token=TOKEN, message=Outgoing(chat_id="79", text="hi")).sent


def test_msg1_a_timeout_answers_retry_with_zero(bot_api, channel):
    bot_api.delay_next("sendMessage", 3)  # the channel waits 0.5 s (the fixture's timeout)
    delivery = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi"))

    assert delivery.outcome == Outcome.RETRY
    assert delivery.retry_after == 0
    assert "Timeout" in delivery.error


@pytest.mark.parametrize("status", [500, 502])
def test_msg1_a_5xx_answers_retry_with_zero(bot_api, channel, status):
    bot_api.fail_next("sendMessage", status=status)
    delivery = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi"))

    assert (delivery.outcome, delivery.retry_after) == (Outcome.RETRY, 0)


def test_msg1_no_connection_answers_retry_with_zero(bot_api, channel, settings):
    settings.TELEGRAM_API_BASE_URL = _closed_port_url()
    delivery = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi"))

    assert (delivery.outcome, delivery.retry_after) == (Outcome.RETRY, 0)
    assert delivery.error.startswith("ConnectError")


def test_msg1_a_400_answers_failed_with_telegrams_description(bot_api, channel):
    bot_api.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    delivery = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi"))

    assert delivery.outcome == Outcome.FAILED
    assert delivery.error == "Bad Request: chat not found"


def test_msg1_a_message_telegram_would_refuse_fails_without_a_request(bot_api, channel):
    too_long = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="x" * 4097))
    empty = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text=""))
    big_data = channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi", buttons=(Button("B", "é" * 33),)))

    assert {too_long.outcome, empty.outcome, big_data.outcome} == {Outcome.FAILED}
    assert bot_api.calls() == []
    assert channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="x" * 4096, buttons=(Button("B", "d" * 64),))).sent


def test_msg1_an_error_description_is_cut_to_200_characters(bot_api, channel):
    bot_api.fail_next("sendMessage", status=400, description="Bad Request: " + "x" * 500)
    assert len(channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).error) == 200


def test_get_me_names_the_bot_of_a_known_token(bot_api, channel):
    assert channel.get_me(token=TOKEN) == BotIdentity(id=123456, username="test_123456_bot", name="Test Bot 123456")


def test_get_me_with_an_unknown_token_raises_channel_refused(bot_api, channel):
    with pytest.raises(ChannelRefused) as refused:
        channel.get_me(token=UNKNOWN)
    assert refused.value.code == 401 and refused.value.message == "Unauthorized"
    # Every method answers 401 to an unknown token, as Telegram does.
    assert channel.send(token=UNKNOWN, message=Outgoing(chat_id="5", text="hi")).outcome == Outcome.FAILED


def test_a_malformed_token_never_reaches_the_network(bot_api, channel):
    with pytest.raises(ChannelRefused):
        channel.get_me(token="123:abc/../../other")
    assert channel.send(token="123:abc?x=1", message=Outgoing(chat_id="5", text="hi")).outcome == Outcome.FAILED
    assert bot_api.calls() == []


def test_get_me_and_set_webhook_raise_channel_unavailable_without_an_answer(bot_api, channel, settings):
    bot_api.fail_next("getMe", status=500)
    with pytest.raises(ChannelUnavailable):
        channel.get_me(token=TOKEN)
    bot_api.fail_next("setWebhook", status=429, retry_after=3)
    with pytest.raises(ChannelUnavailable):
        channel.set_webhook(token=TOKEN, url="https://example.com/hook", secret="s3cret")
    bot_api.delay_next("getMe", 3)
    with pytest.raises(ChannelUnavailable):
        channel.get_me(token=TOKEN)
    settings.TELEGRAM_API_BASE_URL = _closed_port_url()
    with pytest.raises(ChannelUnavailable):
        channel.get_me(token=TOKEN)


def test_set_webhook_sends_the_url_and_the_secret_token(bot_api, channel):
    channel.set_webhook(token=TOKEN, url="https://example.com/telegram/webhook/7/", secret="abc_DEF-123")

    [call] = bot_api.calls("setWebhook")
    assert call.body == {"url": "https://example.com/telegram/webhook/7/", "secret_token": "abc_DEF-123",
                         "allowed_updates": ["message", "callback_query", "my_chat_member"]}
    assert bot_api.webhooks[TOKEN] == call.body


def test_set_webhook_refused_with_a_400(bot_api, channel):
    with pytest.raises(ChannelRefused) as refused:
        channel.set_webhook(token=TOKEN, url="http://example.com/hook", secret="abc")
    assert refused.value.code == 400
    assert "HTTPS URL must be provided" in str(refused.value)
    with pytest.raises(ChannelRefused) as refused:
        channel.set_webhook(token=UNKNOWN, url="https://example.com/hook", secret="abc")
    assert refused.value.code == 401


def test_answer_callback_calls_answer_callback_query(bot_api, channel):
    assert channel.answer_callback(token=TOKEN, callback_id="4382bfdwdsb323b2d9", text="Saved").sent
    assert channel.answer_callback(token=TOKEN, callback_id="4382bfdwdsb323b2e0").sent

    assert [c.body for c in bot_api.calls("answerCallbackQuery")] == [
        {"callback_query_id": "4382bfdwdsb323b2d9", "text": "Saved"},
        {"callback_query_id": "4382bfdwdsb323b2e0"},
    ]


def test_clear_buttons_edits_the_markup_to_an_empty_keyboard(bot_api, channel):
    sent = channel.send(token=TOKEN, message=Outgoing(chat_id="42", text="Pick", buttons=(Button("A", "a"),)))
    cleared = channel.clear_buttons(token=TOKEN, chat_id="42", message_id=sent.message_id)

    assert (cleared.outcome, cleared.message_id) == (Outcome.SENT, sent.message_id)
    [call] = bot_api.calls("editMessageReplyMarkup")
    assert call.body == {"chat_id": "42", "message_id": int(sent.message_id), "reply_markup": {"inline_keyboard": []}}
    # Clearing again ("message is not modified") is done already, not a failure.
    assert channel.clear_buttons(token=TOKEN, chat_id="42", message_id=sent.message_id).sent
    missing = channel.clear_buttons(token=TOKEN, chat_id="42", message_id="999")
    assert (missing.outcome, missing.error) == (Outcome.FAILED, "Bad Request: message to edit not found")


def test_no_error_text_or_log_line_contains_the_token(bot_api, channel, settings, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")  # the settings keep it at WARNING; here its every line is read
    errors = []
    bot_api.fail_next("sendMessage", status=400, description=f"Bad Request: token {TOKEN} at /bot{TOKEN}/sendMessage")
    for fault in [dict(status=400), dict(status=403), dict(status=429), dict(status=500)]:
        errors.append(channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).error)
        bot_api.fail_next("sendMessage", **fault)
    errors.append(channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).error)
    bot_api.delay_next("sendMessage", 3)
    errors.append(channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).error)
    for call in (lambda: channel.get_me(token=UNKNOWN), lambda: channel.set_webhook(token=TOKEN, url="http://x", secret="s")):
        with pytest.raises(ChannelRefused) as refused:
            call()
        errors.append(str(refused.value))
    settings.TELEGRAM_API_BASE_URL = _closed_port_url()
    errors.append(channel.send(token=TOKEN, message=Outgoing(chat_id="5", text="hi")).error)

    assert all(errors) and len(errors) == 9
    assert not [e for e in errors if "TEST" in e or "NOPE" in e]
    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx logs each call...
    assert not [r for r in caplog.records if "TEST" in r.getMessage()]  # ...without the token


def test_scrub_removes_a_token_from_any_text():
    text = "Client error for url 'https://api.telegram.org/bot987:AAH-x_y/sendMessage' (987:AAH-x_y)"
    assert scrub(text, "987:AAH-x_y") == "Client error for url 'https://api.telegram.org/bot<token>/sendMessage' (<token>)"
    assert "AAH" not in scrub("GET https://api.telegram.org/bot987:AAH-x_y/getMe")


def test_the_local_bot_api_takes_form_encoded_bodies_too(bot_api):
    answer = httpx.post(f"{bot_api.url}/bot{TOKEN}/sendMessage", data={"chat_id": "9", "text": "form", "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'})
    assert answer.json()["ok"] is True
    assert bot_api.sent()[0]["text"] == "form"
    assert httpx.post(f"{bot_api.url}/bot{UNKNOWN}/getMe").json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_get_channel_follows_the_messaging_channel_setting(settings):
    assert isinstance(get_channel(), TelegramChannel)
    settings.MESSAGING_CHANNEL = "projects.channels.telegram.TelegramChannel"
    assert get_channel().name == "telegram"
