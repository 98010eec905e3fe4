"""The request being served, if any, so that the audit log can note its IP without every service
taking the request as an argument; and the fields every log line carries (issue 17, item 6): the
request's id, the signed-in client's id, and the night's chunk while a worker does one. A task
queued by a request carries the request's id and client id with it (Celery message headers, see
`config.celery`), and its worker binds them for the task's lines."""

import contextlib
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.utils.functional import empty

# An X-Request-ID from the proxy is kept when it looks like an id (a UUID, a hex or base64 token):
# anything else (too long, spaces, control characters) could forge or break log lines.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


@dataclass(frozen=True)
class RequestInfo:
    ip: str | None
    user_agent: str
    request_id: str = ""
    # The HttpRequest itself, for the client id of the log lines: read only once the request has
    # resolved its user (a log line must never be what loads the session).
    http_request: object = field(default=None, repr=False, compare=False)


_current: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)
# Fields bound by a block of work outside a request (the night's chunk): {"night": ..., "chunk": ...}.
_log_fields: ContextVar[dict | None] = ContextVar("log_fields", default=None)


def current_request() -> RequestInfo | None:
    return _current.get()


def set_current_request(info: RequestInfo | None):
    return _current.set(info)


def reset_current_request(token) -> None:
    _current.reset(token)


def request_id_from(incoming: str | None) -> str:
    """The caller's (or the proxy's) X-Request-ID if well formed, else a new one."""
    return valid_request_id(incoming) or uuid.uuid4().hex


def valid_request_id(value) -> str:
    """`value` if it is a well-formed request id, else "": what came in a task's message header
    is held to the same pattern as an X-Request-ID (a forged one must not break log lines)."""
    if isinstance(value, str) and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return ""


def valid_client_id(value) -> int | None:
    """`value` if it can be a client's id (a positive bigint), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


def current_request_id() -> str:
    """The id of the request being served; in a task, that of the request that queued it; else ""."""
    return getattr(_current.get(), "request_id", "") or log_fields().get("request_id") or ""


def current_client_id() -> int | None:
    """The id of the client the current request acts as, if it is known already; in a task, that
    of the request that queued it."""
    request = _current.get()
    if request is not None:
        return client_id_of(request.http_request)
    return log_fields().get("client_id")


def client_id_of(request) -> int | None:
    """The id of the client a request acts as, if it is known already: a session's user once
    loaded, or the API key's client once DRF has authenticated the call."""
    if request is None:
        return None
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # AuthenticationMiddleware's lazy user
    if wrapped is empty:  # not loaded yet: perhaps by DRF's session authentication
        wrapped = request.__dict__.get("_cached_user")
    if wrapped is None or not getattr(wrapped, "is_authenticated", False):
        return None
    return wrapped.pk


def log_fields() -> dict:
    return _log_fields.get() or {}


def bind_log_fields(**fields):
    """Every log line from here on carries these fields (None ones left out), until
    `unbind_log_fields` with the token returned: for work whose start and end are two calls (a
    task's prerun and postrun signals)."""
    return _log_fields.set({**log_fields(), **{k: v for k, v in fields.items() if v is not None}})


def unbind_log_fields(token) -> None:
    _log_fields.reset(token)


@contextlib.contextmanager
def log_context(**fields):
    """Every log line inside the block carries these fields (the night binds its chunk)."""
    token = bind_log_fields(**fields)
    try:
        yield
    finally:
        unbind_log_fields(token)
