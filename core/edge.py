"""The edge of every request (issue 17, item 1): what no view should have to think about.

- A path, query string or header holding a NUL character (or an unpaired surrogate) is refused
  with 400 before anything reads it: PostgreSQL would refuse it in any lookup, as a 500. A cookie
  that holds one is dropped instead (it reads as absent): a browser's broken cookie must not lock
  its owner out of the site.
- A POST, PUT, PATCH or DELETE to an address that lacks only its trailing slash answers 308 to the
  address with it (the method and body kept), never the 500 that Django's APPEND_SLASH raises in
  development for a request whose body a redirect would lose.
- Under /api/ and /webhooks/ every error is JSON in API.md's shape, even one Django answered with a
  page: so in development (DEBUG) no technical page, which lists every URL pattern and the
  process environment, reaches an API client.
- The technical 500 page that development still shows on the dashboard's own paths hides the
  environment and every setting that holds an address with credentials (`SafeReporterFilter`).
"""

import json
import re

from django.conf import settings
from django.core.exceptions import DisallowedRedirect
from django.http import HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import is_valid_path
from django.utils.translation import gettext as _
from django.views.debug import SafeExceptionReporterFilter

from core.outage import JSON_PREFIXES
from core.validation import text_problem

# The headers a request carries: WSGI names them HTTP_*, and these two without the prefix.
_BARE_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_ERROR_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 413: "body_too_large", 415: "unsupported_media_type", 429: "throttled", 500: "server_error",
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def is_json_path(request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _refusal(request) -> tuple[str, str] | None:
    """(where, why) for the first part of the request no view may read, or None."""
    problem = text_problem(request.path)
    if problem:
        return "path", problem
    for key, values in request.GET.lists():
        for text in (key, *values):
            problem = text_problem(text)
            if problem:
                return f"query parameter {key!r}" if not text_problem(key) else "query string", problem
    for name, value in request.META.items():
        if (name.startswith("HTTP_") or name in _BARE_HEADERS) and isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return "header " + name.removeprefix("HTTP_").replace("_", "-").title(), problem
    return None


def _answer(request, status: int, code: str, detail: str) -> HttpResponse:
    if is_json_path(request):
        return JsonResponse({"code": code, "detail": detail}, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _missing_slash(request) -> HttpResponse | None:
    if not settings.APPEND_SLASH or request.method not in _BODY_METHODS or request.path_info.endswith("/"):
        return None
    urlconf = getattr(request, "urlconf", None)
    if is_valid_path(request.path_info, urlconf) or not is_valid_path(f"{request.path_info}/", urlconf):
        return None
    location = request.get_full_path(force_append_slash=True)
    detail = _("This address ends with a slash: send the %(method)s to %(location)s.") % {"method": request.method, "location": location}
    try:
        # A redirect (the test client and other clients follow it), that keeps the method and body.
        response = HttpResponsePermanentRedirect(location, preserve_request=True)
    except DisallowedRedirect:  # an address too long to send back
        return _answer(request, 404, "not_found", _("Not found: this address ends with a slash."))
    if is_json_path(request):
        response.content, response["Content-Type"] = json.dumps({"code": "trailing_slash", "detail": detail}), "application/json"
    else:
        response.content, response["Content-Type"] = detail, "text/plain; charset=utf-8"
    return response


class EdgeMiddleware:
    """Before the session is read and before CommonMiddleware's APPEND_SLASH, after the outage
    middleware (which turns an outage's 500 into a 503, the JSON shape kept)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = _refusal(request)
        if refused is not None:
            where, why = refused
            return _answer(request, 400, "invalid_characters", f"{where}: {why}")
        for name, value in list(request.COOKIES.items()):
            if text_problem(name) or text_problem(value):
                del request.COOKIES[name]
        response = _missing_slash(request) or self.get_response(request)
        if is_json_path(request) and response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            return self._as_json(response)
        return response

    @staticmethod
    def _as_json(page: HttpResponse) -> JsonResponse:
        """An error Django answered with a page (its 404 or 500, the technical ones in
        development), as API.md's JSON: the status and its reason, nothing of the page."""
        response = JsonResponse({"code": _ERROR_CODES.get(page.status_code, "error"), "detail": page.reason_phrase}, status=page.status_code)
        for name in _KEPT_HEADERS:
            if name in page:
                response[name] = page[name]
        return response


# Request keys that are the request's own; under runserver the WSGI environ holds the whole process
# environment too (DATABASE_URL and its password, say), which the technical page would list.
_REQUEST_META = re.compile(r"HTTP_.*|CONTENT_(TYPE|LENGTH)|PATH_INFO|QUERY_STRING|REMOTE_ADDR|REQUEST_METHOD|SCRIPT_NAME|SERVER_(NAME|PORT|PROTOCOL)|wsgi\.url_scheme")


class SafeReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, stricter: settings that are addresses (a broker's or a cache's URL holds
    its password) are hidden with the secrets, and of the request's META only its own keys show."""

    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|URL|LOCATION|DSN|HTTP_COOKIE", flags=re.IGNORECASE)

    def get_safe_request_meta(self, request):
        meta = super().get_safe_request_meta(request)
        return {name: value for name, value in meta.items() if _REQUEST_META.fullmatch(name)}
