"""Fixed-window rate limits counted in the shared cache (Redis), so every web
process sees the same counts."""

import time

from django.core.cache import cache


def rate_limit_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt against `key`; return False once the window's `limit` is used up.

    A fixed window is simple and needs one counter per key; its cost is that a
    burst straddling two windows can reach twice the limit, which is fine for
    spam protection.
    """
    window = int(time.time() // window_seconds)
    cache_key = f"ratelimit:{key}:{window}"
    # add() only creates the counter; incr() is atomic in Redis, so concurrent
    # requests each get their own count.
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # The counter expired between add() and incr(): this is a new window.
        cache.set(cache_key, 1, timeout=window_seconds)
        count = 1
    return count <= limit
