from rest_framework.throttling import BaseThrottle

from accounts import services
from accounts.models import ApiKey


class ApiKeyRateThrottle(BaseThrottle):
    """The per-key rate limit (ACC-5); requests without a key (session, anonymous) pass here."""

    def allow_request(self, request, view) -> bool:
        self._wait = 0
        if isinstance(request.auth, ApiKey):
            self._wait = services.api_key_request_wait(request.auth)
        return self._wait == 0

    def wait(self) -> int:
        return self._wait
