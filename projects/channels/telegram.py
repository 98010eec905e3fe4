"""The Telegram adapter of the channel port (MSG-1): a plain HTTP client of the Bot API.

Every call is a JSON POST to `{TELEGRAM_API_BASE_URL}/bot{token}/{method}`. The token is in the
URL, so it is scrubbed from every error text and from httpx's own request log (the root logger
runs at INFO, where httpx writes each URL).
"""

import logging
import os
import re
import threading

import httpx
from django.conf import settings

from projects.channels.base import (
    MAX_BUTTON_DATA_BYTES,
    MAX_ERROR_CHARS,
    MAX_TEXT_CHARS,
    BotIdentity,
    Button,
    ChannelRefused,
    ChannelUnavailable,
    Delivery,
    Outcome,
    Outgoing,
)

DEFAULT_BASE_URL = "https://api.telegram.org"
DEFAULT_TIMEOUT_SECONDS = 10

# What a bot token looks like ("123456:AA..."). A token comes from a client's form: anything else
# (a "/" or "?" in it) would change the URL we call, so it never reaches the network.
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
# The token's place in a Bot API URL, for texts whose token we do not know (log records).
_BOT_PATH = re.compile(r"/bot[^/\s\"'<>]+")
_NOT_MODIFIED = "message is not modified"


def scrub(text: str, token: str = "") -> str:
    """`text` without the bot token (known or in a Bot API path), cut to 200 characters."""
    if token:
        text = text.replace(token, "<token>")
    return _BOT_PATH.sub("/bot<token>", text)[:MAX_ERROR_CHARS]


class _HideTokens(logging.Filter):
    """httpx logs `HTTP Request: POST https://api.telegram.org/bot<TOKEN>/sendMessage` at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _BOT_PATH.sub("/bot<token>", message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _HideTokens) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_HideTokens())


# One connection pool per process, made at first use (httpx.Client "can be shared between
# threads"). A forked child (Celery's prefork pool) forgets its parent's: sharing its sockets
# would mix two processes' requests on one connection.
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _forget_client() -> None:
    global _client, _client_lock
    _client, _client_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_client)


def _http() -> httpx.Client:
    global _client
    client = _client
    if client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(headers={"User-Agent": "back-office-channels"})
            client = _client
    return client


def _call(token: str, method: str, body: dict) -> tuple[int, dict]:
    """POST one method; (HTTP status, the JSON answer or {}). httpx.HTTPError when no answer."""
    base = str(getattr(settings, "TELEGRAM_API_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
    timeout = float(getattr(settings, "TELEGRAM_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    response = _http().post(f"{base}/bot{token}/{method}", json=body, timeout=timeout)
    try:
        payload = response.json()
    except ValueError:  # a proxy's HTML error page, an empty body
        payload = {}
    return response.status_code, payload if isinstance(payload, dict) else {}


def _ok(status: int, payload: dict) -> bool:
    return 200 <= status < 300 and payload.get("ok") is True


def _describe(status: int, payload: dict, token: str) -> str:
    return scrub(str(payload.get("description") or f"HTTP {status}"), token)


def _transport_error(exc: Exception, token: str) -> str:
    # Some httpx errors have an empty text (a bare ReadTimeout): the class name still says it.
    text = str(exc)
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, token)


def _retry_after(payload: dict) -> float:
    parameters = payload.get("parameters")
    try:
        seconds = float(parameters.get("retry_after")) if isinstance(parameters, dict) else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    # A 429 always means "wait": without a figure, wait a second rather than not at all.
    return seconds if seconds > 0 else 1.0


def _delivery(status: int, payload: dict, token: str) -> Delivery:
    """Telegram's answer as a Delivery (MSG-1: a 429 waits `retry_after`; a 403 has left, PRJ-3)."""
    if _ok(status, payload):
        result = payload.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return Delivery(Outcome.SENT, message_id="" if message_id is None else str(message_id))
    error = _describe(status, payload, token)
    if status == 429:
        return Delivery(Outcome.RETRY, retry_after=_retry_after(payload), error=error)
    if status == 403:  # "Forbidden: bot was blocked by the user", "user is deactivated"
        return Delivery(Outcome.BLOCKED, error=error)
    if 400 <= status < 500:
        return Delivery(Outcome.FAILED, error=error)
    # A 5xx, or an answer that is not the Bot API's (a 200 without ok): the caller backs off.
    return Delivery(Outcome.RETRY, error=error)


def _raise_unless_ok(status: int, payload: dict, token: str) -> None:
    """For getMe and setWebhook: refused for good (401, 404, 400) or try again (429, 5xx)."""
    if _ok(status, payload):
        return
    error = _describe(status, payload, token)
    if 400 <= status < 500 and status != 429:
        raise ChannelRefused(status, error)
    raise ChannelUnavailable(error)


def _keyboard(buttons: tuple[Button, ...]) -> dict:
    # One button per row: a subscriber's choices read as a list on a phone's narrow screen.
    return {"inline_keyboard": [[{"text": b.text, "callback_data": b.data}] for b in buttons]}


def _refusal(message: Outgoing) -> str:
    """Why Telegram would answer 400 to this message, checked here without a request."""
    if not message.text:
        return "Bad Request: message text is empty"
    if len(message.text) > MAX_TEXT_CHARS:
        return f"Bad Request: message is too long (over {MAX_TEXT_CHARS} characters)"
    for button in message.buttons:
        if not 1 <= len(button.data.encode()) <= MAX_BUTTON_DATA_BYTES:
            return f"Bad Request: a button's data must be 1-{MAX_BUTTON_DATA_BYTES} bytes"
    return ""


class TelegramChannel:
    """The Bot API over HTTP (MSG-1). Stateless: the pool is the process's, the token each call's."""

    name = "telegram"

    def _checked(self, token: str) -> None:
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            raise ChannelRefused(401, "Unauthorized: not a bot token")

    def _deliver(self, token: str, method: str, body: dict) -> Delivery:
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            return Delivery(Outcome.FAILED, error="Unauthorized: not a bot token")
        try:
            status, payload = _call(token, method, body)
        except httpx.HTTPError as exc:
            # No answer: a read timeout may mean Telegram got the message; the caller decides.
            return Delivery(Outcome.RETRY, error=_transport_error(exc, token))
        return _delivery(status, payload, token)

    def _request(self, token: str, method: str, body: dict) -> dict:
        self._checked(token)
        try:
            status, payload = _call(token, method, body)
        except httpx.HTTPError as exc:
            raise ChannelUnavailable(_transport_error(exc, token)) from None  # (the cause names the URL)
        _raise_unless_ok(status, payload, token)
        return payload

    def get_me(self, *, token: str) -> BotIdentity:
        result = self._request(token, "getMe", {}).get("result") or {}
        return BotIdentity(id=int(result.get("id", 0)), username=str(result.get("username", "")), name=str(result.get("first_name", "")))

    def set_webhook(self, *, token: str, url: str, secret: str) -> None:
        # Only what the platform reads; named, so that an earlier setWebhook's narrower list does not stay.
        self._request(token, "setWebhook", {"url": url, "secret_token": secret, "allowed_updates": ["message", "callback_query", "my_chat_member"]})

    def send(self, *, token: str, message: Outgoing) -> Delivery:
        refusal = _refusal(message)
        if refusal:
            return Delivery(Outcome.FAILED, error=refusal)
        body: dict = {"chat_id": message.chat_id, "text": message.text}
        if message.buttons:
            body["reply_markup"] = _keyboard(message.buttons)
        return self._deliver(token, "sendMessage", body)

    def answer_callback(self, *, token: str, callback_id: str, text: str = "") -> Delivery:
        body = {"callback_query_id": callback_id}
        if text:
            body["text"] = text[:200]  # Telegram shows at most 200 characters
        return self._deliver(token, "answerCallbackQuery", body)

    def clear_buttons(self, *, token: str, chat_id: str, message_id: str) -> Delivery:
        body = {"chat_id": chat_id, "message_id": int(message_id) if str(message_id).isdigit() else message_id, "reply_markup": {"inline_keyboard": []}}
        delivery = self._deliver(token, "editMessageReplyMarkup", body)
        if delivery.outcome == Outcome.FAILED and _NOT_MODIFIED in delivery.error:
            # The keyboard is gone already (a repeated task): what was asked is done.
            return Delivery(Outcome.SENT, message_id=str(message_id))
        if delivery.sent and not delivery.message_id:
            return Delivery(Outcome.SENT, message_id=str(message_id))
        return delivery
