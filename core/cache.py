"""The cache on Redis, degrading when Redis is down (issue 17, item 5).

Policy: the cache holds only counters and hints — the per-IP and per-key rate limits (ACC-5), the
sign-in lockout's failures (ACC-2), allauth's own rate limits. When Redis cannot be reached they
FAIL OPEN: a read finds nothing, a write is dropped, so every request goes ahead uncounted and
nothing answers a bare 500. What must hold whatever happens is kept in the database and still
holds (blocks, suspensions, revoked or locked-by-staff keys, tariff limits, the popup's
de-duplication). Why open, not closed: an outage of a counter store must not lock every client
out of the API and the dashboard; the cost is that limits do not count for as long as the outage
lasts, which /health/ (cache check) makes visible. Each failure is logged; after one, this process
does not try Redis again for PAUSE_SECONDS, so a dead or hung Redis costs a request at most one
short connect timeout."""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

PAUSE_SECONDS = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
# A Redis that accepts no connection, or answers nothing, is given up on quickly.
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}


class ResilientRedisCache(RedisCache):
    """Django's Redis cache, failing open when Redis is unreachable (see the module's policy)."""

    def __init__(self, server, params):
        params = {**params, "OPTIONS": {**DEFAULT_OPTIONS, **params.get("OPTIONS", {})}}
        super().__init__(server, params)
        self._down_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _degrade(self, operation: str, exc: Exception, fallback):
        if self.available():
            log.warning("cache unreachable (%s): %r; rate limits and lockouts fail open for %ss", operation, exc, PAUSE_SECONDS)
        self._down_until = time.monotonic() + PAUSE_SECONDS
        return fallback

    def _try(self, operation: str, fallback, call, *args, **kwargs):
        if not self.available():
            return fallback
        try:
            return call(*args, **kwargs)
        except UNREACHABLE as exc:
            return self._degrade(operation, exc, fallback)

    def get(self, key, default=None, version=None):
        return self._try("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._try("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._try("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._try("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._try("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._try("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._try("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._try("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._try("delete_many", None, super().delete_many, keys, version)

    def clear(self):
        return self._try("clear", False, super().clear)

    def incr(self, key, delta=1, version=None):
        """A counter that cannot be read is as if missing (ValueError, as Django's `incr` of a
        missing key): the callers start it again, at nothing counted."""
        if not self.available():
            raise ValueError(f"Key '{key}' not found (cache unreachable).")
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as exc:
            self._degrade("incr", exc, None)
            raise ValueError(f"Key '{key}' not found (cache unreachable).") from exc
