"""The shared send rate limiter (MSG-1: about 30 messages a second per bot, 1 a second per chat, 20
a minute per group; a 429 holds the bot), in Redis and in-process, with the same answers."""

import os
import threading
import time
import uuid

import pytest

from projects.channels import limiter
from tests.conftest import require_service


def _redis_url(settings) -> str:
    for url in (getattr(settings, "MESSAGING_LIMITER_URL", ""), os.environ.get("CELERY_BROKER_URL", "")):
        if url.startswith("redis"):
            return url
    return "redis://127.0.0.1:6379/0"


def _reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, settings):
    """Each test runs against both limiters, with Telegram's limits as the defaults have them."""
    if request.param == "redis":
        url = _redis_url(settings)
        require_service(f"Redis ({url})", _reachable(url))
        settings.MESSAGING_LIMITER_URL = url
    else:
        settings.MESSAGING_LIMITER_URL = ""
    settings.TELEGRAM_PER_BOT_PER_SECOND = 30
    settings.TELEGRAM_PER_CHAT_PER_SECOND = 1
    settings.TELEGRAM_PER_GROUP_PER_MINUTE = 20
    settings.TELEGRAM_LIMIT_MARGIN = 0.1
    return request.param


@pytest.fixture
def bot(backend):
    # A bot of its own per test: its keys (msg:limit:{bot}:...) are nobody else's, in any worker.
    return f"test-{uuid.uuid4().hex}"


def test_msg1_a_burst_of_31_for_one_bot_gives_30_slots_then_a_wait(bot):
    answers = [limiter.reserve(bot=bot, chat=str(n)) for n in range(31)]

    assert answers[:30] == [0.0] * 30
    assert 1.0 < answers[30] <= 1.1  # the 1.1 s window (the margin) from the first slot
    assert limiter.reserve(bot=f"{bot}-other", chat="0") == 0.0  # another bot counts on its own


def test_msg1_a_second_message_to_one_chat_within_a_second_waits(bot):
    assert limiter.reserve(bot=bot, chat="42") == 0.0
    wait = limiter.reserve(bot=bot, chat="42")

    assert 1.0 < wait <= 1.1
    assert limiter.reserve(bot=bot, chat="43") == 0.0


def test_msg1_a_refused_reservation_counts_in_no_window(bot, settings):
    settings.TELEGRAM_PER_BOT_PER_SECOND = 2
    assert limiter.reserve(bot=bot, chat="A") == 0.0
    assert limiter.reserve(bot=bot, chat="A") > 0  # the chat's window is full...
    assert limiter.reserve(bot=bot, chat="B") == 0.0  # ...so the bot's second slot was not taken
    assert limiter.reserve(bot=bot, chat="C") > 0  # now the bot's window is full


def test_msg1_the_21st_message_to_one_group_in_a_minute_waits(bot, settings):
    settings.TELEGRAM_PER_CHAT_PER_SECOND = 100  # the group's per-minute window alone, without sleeping
    answers = [limiter.reserve(bot=bot, chat="-1001", group=True) for _ in range(21)]

    assert answers[:20] == [0.0] * 20
    assert 60 < answers[20] <= 66
    assert limiter.reserve(bot=bot, chat="-1002", group=True) == 0.0
    assert limiter.reserve(bot=bot, chat="-1001") == 0.0  # as a private chat it has no minute window


def test_msg1_hold_after_a_429_makes_every_reservation_wait(bot):
    limiter.hold(bot=bot, seconds=3)
    wait = limiter.reserve(bot=bot, chat="1")

    assert 2.8 < wait <= 3.0
    limiter.hold(bot=bot, seconds=1)  # a shorter hold never shortens a longer one
    assert limiter.reserve(bot=bot, chat="2") > 2.5
    assert limiter.reserve(bot=f"{bot}-other", chat="1") == 0.0


def test_msg1_a_hold_ends_after_its_seconds(bot):
    limiter.hold(bot=bot, seconds=0.15)
    assert 0 < limiter.reserve(bot=bot, chat="1") <= 0.15
    assert limiter.wait_for_slot(bot=bot, chat="1", max_wait=1) == 0.0  # slept past the hold


def test_msg1_wait_for_slot_answers_the_wait_beyond_max_wait(bot):
    assert limiter.wait_for_slot(bot=bot, chat="7") == 0.0
    started = time.monotonic()
    wait = limiter.wait_for_slot(bot=bot, chat="7", max_wait=0.2)

    assert 0.9 < wait <= 1.1  # for the caller to retry its task that much later
    assert time.monotonic() - started < 0.1  # without sleeping first


def test_msg1_two_threads_on_wait_for_slot_never_pass_30_in_any_window(bot):
    """Two workers hammering one bot: 60 sends in all, each to a chat of its own."""
    stamps: list[float] = []
    lock = threading.Lock()
    failures: list[float] = []

    def worker(name: str) -> None:
        for n in range(30):
            wait = limiter.wait_for_slot(bot=bot, chat=f"{name}-{n}", max_wait=5)
            with lock:
                (failures.append(wait) if wait else stamps.append(time.monotonic()))

    threads = [threading.Thread(target=worker, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == [] and len(stamps) == 60
    stamps.sort()
    # The 31st slot after any slot is at least the stretched window later (a few ms of tolerance
    # for the time between a reservation and its stamp here)...
    assert min(stamps[i + 30] - stamps[i] for i in range(30)) > 1.1 - 0.02
    # ...so any real second, Telegram's, sees at most 30.
    assert max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps) <= 30
