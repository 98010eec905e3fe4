from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from core.client_ip import limit_ident


class PerIpThrottle(ScopedRateThrottle):
    """A per-IP limit for the endpoints that take no key, by the view's `throttle_scope`. Its rate
    is read from settings at each request (DRF's own copy is taken once at import), so that an
    environment variable or a test's override applies. The IP is the one the trusted proxies give
    (`core.client_ip`, `TRUSTED_PROXY_COUNT`), never whatever X-Forwarded-For the caller sends."""

    @property
    def THROTTLE_RATES(self):  # noqa: N802 (DRF's attribute name)
        return api_settings.DEFAULT_THROTTLE_RATES

    def get_ident(self, request) -> str:
        return limit_ident(request)


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """A rate written as DRF's are ("60/min", "1000/hour", "5/s") → (requests, seconds)."""
    number, period = rate.split("/")
    return int(number), _PERIODS[period.strip()[0]]
