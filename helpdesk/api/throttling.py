"""The per-key rate limit, counted atomically in Redis."""

import logging
import math

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    # Short timeouts and no retries: when Redis is away, a request waits at
    # most about a second for it, then goes through (see api_rate_hit).
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
    return _clients[url]


def parse_rate(rate: str) -> tuple[int, int]:
    """Requests and seconds of a rate such as 600/min (settings.py has checked its form)."""
    count, period = rate.split("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def api_rate_hit(key: str, *, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one request against `key`; return whether it is within `limit`
    and, when it is not, the seconds until the window ends.

    One round trip, one MULTI: the counter is created with its expiry if it
    is missing, incremented and read together, so concurrent requests each
    get their own number and never more than `limit` get through. The window
    starts at a key's first request (not on the clock's minute), so a burst
    gets exactly `limit` answers, however it falls.

    Redis unreachable: the request is let through and a warning logged; the
    limit protects the help desk, and refusing everything would not.
    """
    pipe = _client().pipeline(transaction=True)
    pipe.set(key, 0, ex=window_seconds, nx=True)
    pipe.incr(key)
    pipe.pttl(key)
    try:
        _, count, ttl_ms = pipe.execute()
    except redis.RedisError as error:
        logger.warning("API rate limit not counted, Redis is unreachable: %s", error)
        return True, 0
    if ttl_ms < 0:
        # Left without an expiry (never by this code): it would block for good.
        _client().expire(key, window_seconds)
        ttl_ms = window_seconds * 1000
    return count <= limit, max(1, math.ceil(ttl_ms / 1000))


class ApiKeyRateThrottle(BaseThrottle):
    """API_RATE requests per key, counted in Redis, so the limit holds across
    every web process."""

    def allow_request(self, request, view) -> bool:
        self.retry_after = None
        if request.auth is None:
            return True
        limit, window = parse_rate(settings.API_RATE)
        key = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:ratelimit:api:{request.auth.pk}"
        allowed, retry_after = api_rate_hit(key, limit=limit, window_seconds=window)
        if not allowed:
            self.retry_after = retry_after
        return allowed

    def wait(self) -> int | None:
        return self.retry_after
