"""Log lines (issue 17, item 6): one JSON object a line in production (or with LOG_FORMAT=json),
plain text in development; each with the request's id, the client it acts as and the night's
chunk; and never a secret: API keys, card tokens, bot tokens, passwords, Authorization values and
the settings' own secrets are redacted from the message, its arguments, its extra fields and its
traceback before any formatter sees them.

Wired in `config.settings.LOGGING`: both filters on the one console handler, which every logger
reaches (Django's own loggers included)."""

import logging
import re
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from core.request_context import client_id_of, current_request, current_request_id, log_fields

REDACTED = "[redacted]"

# What a secret looks like wherever it appears in text. Order matters: the shapes first, then
# `key=value` pairs by their key.
_PATTERNS: list[tuple[re.Pattern, str]] = [
    # Authorization header values (first: the whole credential, whatever its shape).
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Our API keys, ak_<lookup prefix>_<secret>: the prefix (no secret, it names the key) stays.
    (re.compile(r"\bak_([0-9a-f]{10})_[A-Za-z0-9_-]+"), rf"ak_\1_{REDACTED}"),
    (re.compile(r"\bak_[A-Za-z0-9_-]{6,}+(?!\[)"), f"ak_{REDACTED}"),  # possessive: not the kept prefix again
    # Telegram bot tokens, <bot id>:<35 characters>, also inside the Bot API's URLs (/bot<token>/).
    (re.compile(r"(?<![0-9])[0-9]{5,12}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"), REDACTED),
    # Card tokens and payment methods (the sandbox's tok_…, Stripe's pm_…/card_…/src_…).
    (re.compile(r"\b(tok|pm|card|src)_[A-Za-z0-9]{3,}"), rf"\1_{REDACTED}"),
    # Stripe's secret and restricted keys, its webhook signing secrets.
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]+"), rf"\1_\2_{REDACTED}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9]+"), f"whsec_{REDACTED}"),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    # password=…, "token": "…", Authorization: …, api_key=… (quoted or not).
    (
        re.compile(
            r"""(?i)(["']?\b(?:password\d?|passwd|pwd|secret|client_secret|api[_-]?key|token|bot_token|authorization|cookie|"""
            r"""sessionid|csrftoken|http_authorization|http_cookie)["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)"""
        ),
        rf"\1{REDACTED}",
    ),
]
# Extra fields and dictionary keys whose value is a secret whatever it looks like.
_SECRET_KEY = re.compile(r"(?i)pass(word|wd)?$|secret|token|authorization|api_?key|cookie|card_?number|cvc|cvv|^pan$")
# The attributes every LogRecord has: the rest are a call's extra fields.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


@cache
def _settings_secrets() -> tuple[str, ...]:
    """The literal secrets of the settings (SECRET_KEY, the encryption keys, the gateway's key,
    the database's and the mail server's passwords), longest first: redacted wherever they appear."""
    from django.conf import settings

    found: list[str] = [settings.SECRET_KEY, getattr(settings, "STRIPE_API_KEY", ""), *getattr(settings, "FIELD_ENCRYPTION_KEYS", [])]
    found += [db.get("PASSWORD", "") for db in settings.DATABASES.values()]
    found += [str(m.get("OPTIONS", {}).get("password", "")) for m in getattr(settings, "MAILERS", {}).values()]
    return tuple(sorted({s for s in found if isinstance(s, str) and len(s) >= 8}, key=len, reverse=True))


def redact(text: str, literals: tuple[str, ...] | list[str] = ()) -> str:
    """The text with every secret it holds replaced by [redacted]: the patterns, the settings'
    secrets and these `literals` (the current request's URL credentials)."""
    if not text:
        return text
    try:
        for secret in _settings_secrets():
            text = text.replace(secret, REDACTED)
    except ImproperlyConfigured:  # a script logging before Django's settings are set up
        pass
    for secret in literals:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value, key: str = "", literals: tuple[str, ...] | list[str] = ()):
    """A log field's value, redacted: by its key if the key names a secret, else by its contents."""
    if key and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact(value, literals)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k), literals) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact_value(v, "", literals) for v in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"), literals)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value), literals)


def _request_of(record: logging.LogRecord):
    """The request a line is about: Django's own lines name it (`extra={"request": ...}`), even
    after our middleware is done; any other line, the one being served."""
    request = record.__dict__.get("request")
    if request is None:
        request = getattr(current_request(), "http_request", None)
    return request


class RedactSecrets(logging.Filter):
    """Redacts the record in place before it is formatted: its message (arguments merged in), its
    extra fields, its traceback and stack. Never drops a line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            literals = tuple(getattr(_request_of(record), "log_secrets", ()))
            # Django's lines carry the request object itself: its repr is a URL, and it is no field.
            record.__dict__.pop("request", None)
            if isinstance(record.msg, dict):
                record.msg = redact_value(record.msg, "", literals)
            else:
                try:
                    message = record.getMessage()
                except Exception:  # noqa: BLE001 (arguments that do not fit the format, a failing __str__: both kept as text)
                    message = f"{record.msg} {record.args!r}"
                record.msg, record.args = redact(message, literals), None
            for key in [k for k in record.__dict__ if k not in _RECORD_ATTRS]:
                record.__dict__[key] = redact_value(record.__dict__[key], key, literals)
            if record.exc_info:
                if not record.exc_text:
                    record.exc_text = logging.Formatter().formatException(record.exc_info)
                # Formatters format exc_info again if it is there: from here on only the redacted text.
                record.exc_info = None
            if record.exc_text:
                record.exc_text = redact(record.exc_text, literals)
            if record.stack_info:
                record.stack_info = redact(record.stack_info, literals)
        except Exception:  # noqa: BLE001 (redaction must never lose the line; at worst it says less)
            record.msg, record.args, record.exc_info, record.exc_text = "(log message withheld: redaction failed)", None, None, None
        return True


class RequestContext(logging.Filter):
    """Adds request_id and client_id (None outside a request) and the fields a block bound with
    `core.request_context.log_context` (the night's chunk) to every record. Outside a request, a
    task's lines take the request_id and client_id its worker bound: the request that queued it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request_of(record)
        bound = log_fields()
        if not hasattr(record, "request_id"):
            record.request_id = getattr(request, "request_id", None) or current_request_id() or None
        if not hasattr(record, "client_id"):
            record.client_id = client_id_of(request) if request is not None else bound.get("client_id")
        for key, value in bound.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, then the context
    fields and any extra ones; a traceback as `exc_info`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__(["levelname", "name", "message"], **kwargs)


class TextFormatter(logging.Formatter):
    """Development's plain lines, with the context fields that are set at the end."""

    CONTEXT = ("request_id", "client_id", "night", "step", "chunk")

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{key}={value}" for key in self.CONTEXT if (value := getattr(record, key, None)) is not None)
        return f"{line} [{context}]" if context else line
