"""Counters shared by the processes (atomic on Redis): failed sign-ins, a key's overruns."""

from django.core.cache import cache


def count(key: str, *, timeout: int) -> int:
    """Add one to a shared counter (atomic on Redis) that starts at 0 and expires after timeout."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1
