"""The request being served, if any, so that the audit log can note its IP without every service
taking the request as an argument."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    ip: str | None
    user_agent: str


_current: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


def current_request() -> RequestInfo | None:
    return _current.get()


def set_current_request(info: RequestInfo | None):
    return _current.set(info)


def reset_current_request(token) -> None:
    _current.reset(token)
