"""A local server that plays the Telegram Bot API, for the channel tests and bench/broadcast.py.

    with BotApi(tokens={"123456:TEST"}) as api:   # 127.0.0.1, a free port, a daemon thread
        settings.TELEGRAM_API_BASE_URL = api.url
        ...
        api.sent()                                # the sendMessage bodies, in arrival order

It answers `POST /bot<token>/<method>` (JSON or form-encoded) as Telegram does: `{"ok": true,
"result": ...}`, or `{"ok": false, "error_code": N, "description": ..., "parameters": ...}`.
Everything is per instance (xdist runs tests in several processes, each with its own servers).
"""

import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

TOKEN = "123456:TEST"

DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
NOT_MODIFIED = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"


class Call(NamedTuple):
    arrived_at: float  # time.monotonic(), for intervals within this process
    arrived_wall: float  # time.time(), to compare with other processes' records
    token: str
    method: str
    body: dict


class _Fault(NamedTuple):
    method: str
    chat_id: str | None
    status: int
    retry_after: float
    description: str


class _Refusal(Exception):
    def __init__(self, status: int, description: str = "", retry_after: float = 0) -> None:
        super().__init__(description)
        self.status, self.retry_after = status, retry_after
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else f"Error {status}"
        self.description = description or DESCRIPTIONS.get(status, phrase).format(retry_after=int(retry_after))


class BotApi:
    """The fake Bot API. `tokens`: the known bot tokens ("<bot id>:<secret>"); any other is 401."""

    def __init__(self, tokens=(TOKEN,), *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tokens = set(tokens)
        self.webhooks: dict[str, dict] = {}
        self._calls: list[Call] = []
        self._faults: list[list] = []  # [_Fault, times left]
        self._chat_faults: dict[str, tuple[int, str]] = {}
        self._delays: list[list] = []  # [method, seconds, times left]
        self._messages: dict[tuple[str, str, int], bool] = {}  # (token, chat, id) -> has buttons
        self._next_message_id = 1
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set = set()
        self._server = _Server((host, port), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "BotApi":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="bot-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends the delayed answers at once
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:  # kept-alive connections: their handler threads end too
            try:
                sock.shutdown(2)
            except OSError:
                pass

    def __enter__(self) -> "BotApi":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what arrived ----------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def sent(self) -> list[dict]:
        """The sendMessage bodies, in arrival order (those answered with an error too)."""
        return [c.body for c in self.calls("sendMessage")]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def busiest(self, seconds: float = 1.0, *, method: str = "sendMessage", chat_id: str | None = None) -> int:
        """The most calls of `method` (to `chat_id`) that arrived within any `seconds`."""
        times = sorted(c.arrived_at for c in self.calls(method) if chat_id is None or str(c.body.get("chat_id")) == str(chat_id))
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    # -- faults ----------------------------------------------------------------------------
    def fail_next(self, method: str, chat_id=None, *, status: int = 429, retry_after: float = 1, description: str = "", times: int = 1) -> None:
        """The next `times` calls of `method` (to `chat_id`, when given) answer `status`."""
        fault = _Fault(method, None if chat_id is None else str(chat_id), status, retry_after, description)
        with self._lock:
            self._faults.append([fault, times])

    def fail_chat(self, chat_id, status: int = 403, description: str = "Forbidden: bot was blocked by the user") -> None:
        """Every call naming `chat_id` answers `status`, until clear_faults()."""
        with self._lock:
            self._chat_faults[str(chat_id)] = (status, description)

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` wait `seconds` before they answer (a timeout)."""
        with self._lock:
            self._delays.append([method, seconds, times])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._chat_faults.clear()
            self._delays.clear()

    # -- answering -------------------------------------------------------------------------
    def _record(self, token: str, method: str, body: dict) -> float:
        with self._lock:
            self._calls.append(Call(time.monotonic(), time.time(), token, method, body))
            for delay in self._delays:
                if delay[0] == method and delay[2] > 0:
                    delay[2] -= 1
                    return delay[1]
        return 0.0

    def _fault(self, method: str, body: dict) -> _Refusal | None:
        chat = None if body.get("chat_id") is None else str(body["chat_id"])
        with self._lock:
            if chat is not None and chat in self._chat_faults:
                return _Refusal(*self._chat_faults[chat])
            for entry in self._faults:
                fault, left = entry
                if left > 0 and fault.method == method and fault.chat_id in (None, chat):
                    entry[1] -= 1
                    return _Refusal(fault.status, fault.description, fault.retry_after)
        return None

    def answer(self, token: str, method: str, body: dict) -> tuple[int, dict]:
        delay = self._record(token, method, body)
        if delay:
            self._stopping.wait(delay)
        try:
            if token not in self.tokens:
                raise _Refusal(401)
            refusal = self._fault(method, body)
            if refusal:
                raise refusal
            handler = getattr(self, f"_do_{method}", None)
            if handler is None:
                raise _Refusal(404)
            return 200, {"ok": True, "result": handler(token, body)}
        except _Refusal as refusal:
            answer = {"ok": False, "error_code": refusal.status, "description": refusal.description}
            if refusal.status == 429:
                answer["parameters"] = {"retry_after": refusal.retry_after}
            return refusal.status, answer

    # The methods: each returns Telegram's `result` or raises _Refusal as Telegram would.
    def _do_getMe(self, token: str, body: dict) -> dict:  # noqa: N802 (the Bot API's names)
        bot_id = int(token.split(":", 1)[0])
        return {"id": bot_id, "is_bot": True, "first_name": f"Test Bot {bot_id}", "username": f"test_{bot_id}_bot"}

    def _do_setWebhook(self, token: str, body: dict) -> bool:  # noqa: N802
        url, secret = str(body.get("url", "")), str(body.get("secret_token", ""))
        if url and not url.startswith("https://"):
            raise _Refusal(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if secret and (len(secret) > 256 or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in secret)):
            raise _Refusal(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self.webhooks[token] = {"url": url, "secret_token": secret, **({"allowed_updates": body["allowed_updates"]} if "allowed_updates" in body else {})}
        return True

    def _do_sendMessage(self, token: str, body: dict) -> dict:  # noqa: N802
        chat, text = body.get("chat_id"), body.get("text")
        if chat in (None, ""):
            raise _Refusal(400, "Bad Request: chat_id is empty")
        if not text:
            raise _Refusal(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _Refusal(400, "Bad Request: message is too long")
        markup = _markup(body.get("reply_markup"))
        rows = markup.get("inline_keyboard", []) if markup else []
        if any(not 1 <= len(str(b.get("callback_data", "")).encode()) <= 64 for row in rows for b in row):
            raise _Refusal(400, "Bad Request: BUTTON_DATA_INVALID")
        with self._lock:
            message_id, self._next_message_id = self._next_message_id, self._next_message_id + 1
            self._messages[(token, str(chat), message_id)] = bool(rows)
        message = {"message_id": message_id, "date": int(time.time()), "chat": _chat(chat), "text": text}
        if rows:
            message["reply_markup"] = markup
        return message

    def _do_answerCallbackQuery(self, token: str, body: dict) -> bool:  # noqa: N802
        if not body.get("callback_query_id"):
            raise _Refusal(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _do_editMessageReplyMarkup(self, token: str, body: dict) -> dict:  # noqa: N802
        chat, message_id = str(body.get("chat_id", "")), int(body.get("message_id") or 0)
        rows = (_markup(body.get("reply_markup")) or {}).get("inline_keyboard", [])
        with self._lock:
            has_buttons = self._messages.get((token, chat, message_id))
            if has_buttons is None:
                raise _Refusal(400, "Bad Request: message to edit not found")
            if not has_buttons and not rows:
                raise _Refusal(400, NOT_MODIFIED)
            self._messages[(token, chat, message_id)] = bool(rows)
        return {"message_id": message_id, "date": int(time.time()), "chat": _chat(chat)}


def _markup(value) -> dict | None:
    # Form-encoded bodies carry reply_markup as a JSON string, as the Bot API accepts it.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _Refusal(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    return value if isinstance(value, dict) else None


def _chat(chat) -> dict:
    chat_id = int(chat) if str(chat).lstrip("-").isdigit() else chat
    return {"id": chat_id, "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: BotApi

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and left: nothing to tell the test's output


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as httpx pools them
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold the body back ~40 ms, which a benchmark would count as Telegram's.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.api._lock:
            self.server.api._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.api._lock:
            self.server.api._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._serve({})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            body = json.loads(raw or b"{}") if kind == "application/json" else dict(parse_qsl(raw.decode()))
        except ValueError:
            return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse JSON"})
        self._serve(body if isinstance(body, dict) else {})

    def _serve(self, body: dict) -> None:
        parts = urlsplit(self.path)
        body = {**dict(parse_qsl(parts.query)), **body}
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        status, answer = self.server.api.answer(segments[0][3:], segments[1], body)
        self._reply(status, answer)

    def _reply(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (a delayed answer)
            self.close_connection = True
