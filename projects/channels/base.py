"""What every outbound channel offers, as dataclasses in and out (like billing/gateways/base.py).

MSG-1: messages go out through the messenger's own API; each send answers a Delivery that says what
happened, so that the caller can store the outcome, wait a 429's `retry_after`, or unsubscribe a
subscriber who blocked the bot (PRJ-3).
"""

from dataclasses import dataclass
from typing import Protocol

# Telegram's own limits (Bot API, sendMessage and InlineKeyboardButton).
MAX_TEXT_CHARS = 4096
MAX_BUTTON_DATA_BYTES = 64
MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class Button:
    """One inline button: `data` comes back in the callback query (at most 64 bytes in UTF-8)."""

    text: str
    data: str


@dataclass(frozen=True)
class Outgoing:
    """One message to one chat (text at most 4096 characters), its buttons one per row."""

    chat_id: str
    text: str
    buttons: tuple[Button, ...] = ()


class Outcome:
    """What became of a send (MSG-1: every message sent is stored with its outcome)."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: the subscriber blocked the bot or is gone, and has left (PRJ-3)
    RETRY = "retry"  # 429 (wait `retry_after`), 5xx or no answer (back off): try again later
    FAILED = "failed"  # any other refusal (400 chat not found...): trying again will not help


@dataclass(frozen=True)
class Delivery:
    """The answer to one call. `message_id` is Telegram's when SENT; `retry_after` is the 429's
    `parameters.retry_after` in seconds, 0 for a transient failure (the caller backs off);
    `error` is Telegram's description or the transport error, at most 200 characters and never
    with the bot's token in it."""

    outcome: str
    message_id: str = ""
    retry_after: float = 0
    error: str = ""

    @property
    def sent(self) -> bool:
        return self.outcome == Outcome.SENT


@dataclass(frozen=True)
class BotIdentity:
    """The bot behind a token, as getMe describes it."""

    id: int
    username: str
    name: str


class ChannelRefused(Exception):
    """The messenger refused the call for good: the token is unknown or revoked (401/404), or a 400
    on setWebhook (a bad URL or secret). `code` is the HTTP status Telegram answered."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or str(code))
        self.code = code
        self.message = message


class ChannelUnavailable(Exception):
    """No usable answer (a timeout, a refused connection, a 5xx): the call may be tried again."""


class Channel(Protocol):
    name: str

    def get_me(self, *, token: str) -> BotIdentity:
        """The bot of this token; ChannelRefused when the token is refused, ChannelUnavailable
        when there is no answer."""

    def set_webhook(self, *, token: str, url: str, secret: str) -> None:
        """Point the bot's updates at `url`, each carrying `secret` in its header. ChannelRefused
        or ChannelUnavailable as for get_me."""

    def send(self, *, token: str, message: Outgoing) -> Delivery:
        """Send one message (MSG-1). Never raises for the messenger's or the network's errors: the
        Delivery says what happened."""

    def answer_callback(self, *, token: str, callback_id: str, text: str = "") -> Delivery:
        """Acknowledge a button press (the client stops its spinner), with an optional notice."""

    def clear_buttons(self, *, token: str, chat_id: str, message_id: str) -> Delivery:
        """Remove a sent message's inline keyboard, so that a button is pressed once."""
