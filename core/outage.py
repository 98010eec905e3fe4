"""Outages (issue 17, item 5): the database, Redis (the cache, the broker) or the broker's client
unreachable answers 503 — a JSON body under /api/ (API.md's error shape), a plain page elsewhere —
with a Retry-After, never a bare 500.

A view's error reaches `OutageMiddleware.process_exception`; one raised in another middleware
(the session's user read by the language middleware, say) becomes Django's 500 response inside
the handler, so the middleware also notes the request's outage from `got_request_exception` and
turns that 500 into the 503. The 503 itself reads neither the database nor the cache: no
session, no user, no context processors, no template that could."""

import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _

logger = logging.getLogger("core.outage")

CODE = "service_unavailable"
RETRY_AFTER_SECONDS = 30  # a restart or a fail-over: long enough not to hammer it, short enough to retry soon
JSON_PREFIXES = ("/api/", "/webhooks/")  # machines read these: the error shape, not a page


def _outage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:  # Redis: the cache (Django's RedisCache) and the broker's results
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover (redis is in requirements.txt)
        pass
    try:  # the broker: Celery's publish when it cannot connect
        from kombu.exceptions import OperationalError as KombuOperationalError

        errors.append(KombuOperationalError)
    except ImportError:  # pragma: no cover (kombu comes with Celery)
        pass
    return tuple(errors)


OUTAGE_ERRORS = _outage_errors()


def outage_of(exc: BaseException | None) -> BaseException | None:
    """The outage behind `exc` (itself, or what it was raised from), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OUTAGE_ERRORS):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def is_outage(exc: BaseException | None) -> bool:
    return outage_of(exc) is not None


def wants_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES) or "application/json" in request.META.get("HTTP_ACCEPT", "")


def _service(exc: BaseException) -> str:
    return "database" if isinstance(exc, (OperationalError, InterfaceError)) else "Redis (cache or broker)"


def detail() -> str:
    return _("The service is briefly unavailable (a database or queue it needs is unreachable). Please try again in a minute.")


def outage_response(request, exc: BaseException) -> HttpResponse:
    """The 503 for `exc`: JSON `{code, detail}` for the API, a plain page elsewhere. Logged with
    the service that failed; reads nothing from the database or the cache."""
    outage = outage_of(exc) or exc
    logger.error("outage: %s unreachable answering %s %s: %s: %s", _service(outage), request.method, request.path,
                 type(outage).__name__, str(outage)[:300])
    if wants_json(request):
        response: HttpResponse = JsonResponse({"code": CODE, "detail": detail()}, status=503)
    else:
        title = escape(_("Briefly unavailable"))
        response = HttpResponse(
            f'<!doctype html><html lang="{escape(getattr(request, "LANGUAGE_CODE", "en"))}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
            f'<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">'
            f"<h1>{title}</h1><p>{escape(detail())}</p></body></html>",
            status=503, content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _note_outage(sender, request=None, **kwargs) -> None:
    """An error Django is about to answer 500 for (raised in a middleware, say): keep the outage
    on the request, for `OutageMiddleware` to answer 503 instead."""
    exc = sys.exc_info()[1]
    if request is not None and is_outage(exc):
        request._outage = exc


got_request_exception.connect(_note_outage, dispatch_uid="core.outage")


class OutageMiddleware:
    """Right after SecurityMiddleware (whose headers the 503 keeps), so that it sees every other
    middleware's answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        outage = getattr(request, "_outage", None)
        if outage is not None and response.status_code == 500:
            return outage_response(request, outage)
        return response

    def process_exception(self, request, exception):
        if is_outage(exception):
            return outage_response(request, exception)
        return None
