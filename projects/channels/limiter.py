"""The shared send rate limiter (MSG-1): every worker on every machine asks it before a send, so
that together they stay within Telegram's limits (about 30 messages a second per bot, 1 a second
per chat, 20 a minute per group chat) and a 429's `retry_after` holds them all.

A sliding-window log per window in Redis (MESSAGING_LIMITER_URL), checked and added to by one Lua
script, so that a reservation counts in all of its windows or in none. The script reads Redis's
own clock (`TIME`): workers on machines whose clocks differ still agree. Without a URL (development,
inline Celery) an in-process limiter with the same answers stands in.

Each window is stretched by TELEGRAM_LIMIT_MARGIN (default 0.2: 30 in any 1.2 s): a reservation and
its request's arrival at Telegram are milliseconds apart, and network jitter could otherwise bunch
31 arrivals into one real second. A limit set to 0 turns its window off.
"""

import math
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from django.conf import settings

PREFIX = "msg:limit:"


@dataclass(frozen=True)
class _Window:
    key: str
    limit: int
    seconds: float


def _tag(bot: str) -> str:
    # "{bot}" is a Redis Cluster hash tag: all of one bot's keys live on one node, as one script
    # touching several keys needs.
    return f"{PREFIX}{{{bot}}}"


def _windows(bot: str, chat: str, group: bool) -> list[_Window]:
    stretch = 1 + max(0.0, float(getattr(settings, "TELEGRAM_LIMIT_MARGIN", 0.2)))
    windows = [
        _Window(f"{_tag(bot)}:bot", int(getattr(settings, "TELEGRAM_PER_BOT_PER_SECOND", 30)), 1.0 * stretch),
        _Window(f"{_tag(bot)}:chat:{chat}", int(getattr(settings, "TELEGRAM_PER_CHAT_PER_SECOND", 1)), 1.0 * stretch),
    ]
    if group:
        windows.append(_Window(f"{_tag(bot)}:group:{chat}", int(getattr(settings, "TELEGRAM_PER_GROUP_PER_MINUTE", 20)), 60.0 * stretch))
    return [w for w in windows if w.limit > 0]


def _hold_key(bot: str) -> str:
    return f"{_tag(bot)}:hold"


# KEYS[1] the bot's hold; KEYS[2..] the windows' logs. ARGV[1] a unique member; then for each
# window its limit and its length in microseconds. Answers 0 (reserved) or the wait in microseconds.
_RESERVE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return held * 1000 end
local wait = 0
for i = 2, #KEYS do
  local limit = tonumber(ARGV[2 * i - 2])
  local window = tonumber(ARGV[2 * i - 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now - window))
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local first = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(first[2]) + window - now)
  end
end
if wait > 0 then return math.max(1, math.ceil(wait)) end
local score = string.format('%.0f', now)
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], score, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 * i - 1]) / 1000))
end
return 0
"""

# A hold only ever lengthens: two workers' 429s never shorten each other's wait.
_HOLD = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 0
"""


class _RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis  # (only where a Redis is configured)

        # Short timeouts: a worker whose Redis is gone fails its task, to be retried, not hangs.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
        self._reserve = self.client.register_script(_RESERVE)
        self._hold = self.client.register_script(_HOLD)

    def reserve(self, windows: list[_Window], hold_key: str) -> float:
        args: list = [uuid.uuid4().hex]
        for window in windows:
            args += [window.limit, round(window.seconds * 1_000_000)]
        return int(self._reserve(keys=[hold_key, *(w.key for w in windows)], args=args)) / 1_000_000

    def hold(self, hold_key: str, seconds: float) -> None:
        self._hold(keys=[hold_key], args=[math.ceil(seconds * 1000)])


class _LocalLimiter:
    """The same answers within one process (development, the inline Celery)."""

    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[float, deque[float]]] = {}
        self._holds: dict[str, float] = {}
        self._swept = time.monotonic()

    def reserve(self, windows: list[_Window], hold_key: str) -> float:
        with self._lock:
            now = time.monotonic()
            held = self._holds.get(hold_key, 0.0) - now
            if held > 0:
                return held
            wait = 0.0
            for window in windows:
                _, log = self._logs.get(window.key, (0.0, deque()))
                while log and log[0] <= now - window.seconds:
                    log.popleft()
                if len(log) >= window.limit:
                    wait = max(wait, log[len(log) - window.limit] + window.seconds - now)
            if wait > 0:
                return max(wait, 1e-6)
            for window in windows:
                self._logs.setdefault(window.key, (window.seconds, deque()))[1].append(now)
            self._sweep(now)
            return 0.0

    def hold(self, hold_key: str, seconds: float) -> None:
        with self._lock:
            self._holds[hold_key] = max(self._holds.get(hold_key, 0.0), time.monotonic() + seconds)

    def _sweep(self, now: float) -> None:
        # A broadcast touches a chat's log once: drop the logs and holds that can no longer count.
        if now - self._swept < self.SWEEP_SECONDS:
            return
        self._swept = now
        self._logs = {key: (seconds, log) for key, (seconds, log) in self._logs.items() if log and log[-1] > now - seconds}
        self._holds = {key: until for key, until in self._holds.items() if until > now}


_local = _LocalLimiter()
_redis: dict[str, _RedisLimiter] = {}
_redis_lock = threading.Lock()


def _backend() -> _RedisLimiter | _LocalLimiter:
    url = getattr(settings, "MESSAGING_LIMITER_URL", "")
    if not url:
        return _local
    limiter = _redis.get(url)
    if limiter is None:
        with _redis_lock:
            limiter = _redis.setdefault(url, _RedisLimiter(url))
    return limiter


def reserve(*, bot: str, chat: str, group: bool = False) -> float:
    """Reserve a send by `bot` (the project's bot id, never its token) to `chat` (MSG-1): 0.0 when
    the slot is taken, counted in every window it belongs to; otherwise the seconds to wait before
    asking again, with nothing reserved. Redis errors are raised: without the shared count no
    worker may send."""
    return _backend().reserve(_windows(str(bot), str(chat), group), _hold_key(str(bot)))


def hold(*, bot: str, seconds: float) -> None:
    """After a 429 (MSG-1): no worker sends for `bot` for `seconds`; reserve answers the rest."""
    if seconds > 0:
        _backend().hold(_hold_key(str(bot)), seconds)


def wait_for_slot(*, bot: str, chat: str, group: bool = False, max_wait: float = 5.0) -> float:
    """Reserve, sleeping while the wait is short (MSG-1): 0.0 once reserved, or the wait (> 0) when
    it would pass `max_wait` in all, for the caller to retry its task that much later."""
    deadline = time.monotonic() + max_wait
    while True:
        wait = reserve(bot=bot, chat=chat, group=group)
        if wait <= 0:
            return 0.0
        if time.monotonic() + wait > deadline:
            return wait
        # A few milliseconds of jitter: workers told the same wait do not all ask at one instant.
        time.sleep(wait + random.uniform(0, 0.003))
