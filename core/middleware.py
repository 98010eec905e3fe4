import logging
import time

from django.conf import settings

from core.client_ip import client_ip  # the address the trusted proxies give (issue 17, item 4)
from core.request_context import RequestInfo, request_id_from, reset_current_request, set_current_request

REQUEST_ID_HEADER = "X-Request-ID"
access_log = logging.getLogger("core.request")
# URL parts that are credentials (a privacy export's download token): left out of the log line.
_SECRET_URL_KWARGS = ("token", "key", "secret")


def _logged_path(request) -> str:
    path = request.path[:300]
    for value in getattr(request, "log_secrets", ()):
        path = path.replace(value, "[redacted]")
    return path


class RequestContextMiddleware:
    """First in the chain, so that every answer (a redirect to HTTPS, an outage's 503) has them:
    the request's id (the proxy's X-Request-ID if well formed, else a new one) on the response
    and on every log line written while it is served, and one access line at its end with the
    client it acted as (issue 17, item 6)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = set_current_request(
            RequestInfo(
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
                request_id=request_id,
                http_request=request,
            )
        )
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if settings.LOG_REQUESTS:
                self._log(request, response, started)
            return response
        finally:
            reset_current_request(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # The URL's credentials (a privacy export's token), once resolved: redacted from every
        # line of the request (core.logging.RedactSecrets), Django's own "Not Found" included.
        request.log_secrets = [str(value) for name, value in view_kwargs.items()
                               if any(word in name.lower() for word in _SECRET_URL_KWARGS) and len(str(value)) >= 4]

    @staticmethod
    def _log(request, response, started: float) -> None:
        # (The client id comes from the user as the view left it, an API key's client set by DRF
        # or the session's user if it was read: a log line never loads a session itself.)
        match = getattr(request, "resolver_match", None)
        path = _logged_path(request)
        # INFO whatever the status: Django's own django.request logger warns of 4xx and 5xx.
        access_log.info(
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "route": match.route if match else None,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


class ContentSecurityPolicyOverrides:
    """Another policy for the pages under a path prefix (`settings.CSP_PATH_OVERRIDES`): the staff
    console's theme evaluates its Alpine.js expressions, which the rest of the site never needs.
    Inside Django's ContentSecurityPolicyMiddleware, which reads the policy the response carries."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for prefix, policy in settings.CSP_PATH_OVERRIDES.items():
            if request.path.startswith(prefix):
                if settings.SECURE_CSP:
                    response._csp_config = policy
                if settings.SECURE_CSP_REPORT_ONLY:
                    response._csp_ro_config = policy
                break
        return response
