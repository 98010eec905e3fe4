from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class PerIpThrottle(ScopedRateThrottle):
    """A per-IP limit for the endpoints that take no key, by the view's `throttle_scope`. Its rate
    is read from settings at each request (DRF's own copy is taken once at import), so that an
    environment variable or a test's override applies."""

    @property
    def THROTTLE_RATES(self):  # noqa: N802 (DRF's attribute name)
        return api_settings.DEFAULT_THROTTLE_RATES
