"""Rate limits counted in Redis, so every web and worker process sees the
same counts."""

import secrets
import time

import redis
from django.conf import settings
from django.core.cache import cache

_client = None


def redis_client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _client


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


def sliding_window_hit(limits: dict[str, int], *, window_seconds: int) -> bool:
    """Count one event against every key in `limits` (key -> most allowed in
    any `window_seconds`); return False, counting nothing, if any key is full.

    A sorted set of timestamps per key: exact over any window, unlike a fixed
    window, which matters where the limit is a promise ("never more than N
    mails an hour"). The hit is added before counting, in one MULTI, so two
    concurrent callers cannot both take the last place.
    """
    now = time.time()
    member = f"{now}:{secrets.token_hex(4)}"
    pipe = redis_client().pipeline()
    for key in limits:
        pipe.zremrangebyscore(key, "-inf", now - window_seconds)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.expire(key, window_seconds)
    results = pipe.execute()
    counts = results[2::4]
    if all(count <= limit for count, limit in zip(counts, limits.values(), strict=True)):
        return True
    undo = redis_client().pipeline()
    for key in limits:
        undo.zrem(key, member)
    undo.execute()
    return False
