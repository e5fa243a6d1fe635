"""Rate limits counted in Redis, so every web and worker process sees the
same counts, and what every Redis caller does when Redis is unreachable.

Nothing that must survive lives in Redis (DESIGN.md), so an outage of it
must never cost a customer's request: a limit that cannot be counted lets
the request through (unless its caller says otherwise), and the failure is
logged once per outage burst, not once per request.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Literal

import redis
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# What redis-py raises when the server is gone, slow or refusing (its
# ConnectionError and TimeoutError are RedisErrors); OSError for a socket
# failure that reaches us unwrapped.
REDIS_ERRORS = (redis.RedisError, OSError)

# While Redis stays unreachable, a failure is logged at most this often per
# kind of call and process; the lines in between are counted instead.
OUTAGE_LOG_INTERVAL_SECONDS = 60
# After a Redis call timed out (Redis hung, or a network path that drops
# packets), this process leaves Redis alone for this long, as if it were
# down: otherwise every call of every request would wait out a timeout of
# its own (a web form post makes four). A refused connection costs nothing
# and needs no pause.
TIMEOUT_PAUSE_SECONDS = 5

IfUnreachable = Literal["allow", "refuse", "raise"]

_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """The process's Redis client for REDIS_URL, with short socket timeouts:
    a dead or hung Redis costs a request at most about a second."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        )
    return client


def _timed_out(exc: BaseException | None) -> bool:
    # The broker's errors (kombu's) carry redis-py's as their cause.
    for _ in range(3):
        if exc is None:
            return False
        if isinstance(exc, redis.TimeoutError | TimeoutError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _Outage:
    """What this process knows of a Redis outage. The log: one warning when
    a kind of Redis call starts failing, then at most one per
    OUTAGE_LOG_INTERVAL_SECONDS with the count of failures in between, and
    one line when it works again. The pause: TIMEOUT_PAUSE_SECONDS without
    Redis after a timeout. Per process, and only ever a shortcut to the
    answer an unreachable Redis gets anyway."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # what -> [monotonic time of the last warning, failures not logged since]
        self._failing: dict[str, list] = {}
        self._paused_until = 0.0

    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def failed(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if _timed_out(exc):
            self._paused_until = now + TIMEOUT_PAUSE_SECONDS
        with self._lock:
            state = self._failing.get(what)
            if state is None:
                self._failing[what] = [now, 0]
                first = True
            elif now - state[0] >= OUTAGE_LOG_INTERVAL_SECONDS:
                first, unlogged = False, state[1]
                state[:] = [now, 0]
            else:
                state[1] += 1
                return
        if first:
            logger.warning("Redis unreachable, %s: %s", what, exc, exc_info=exc)
        else:
            logger.warning(
                "Redis still unreachable, %s: %s (%d more failures since the last warning)",
                what,
                exc,
                unlogged,
            )

    def recovered(self, what: str) -> None:
        if what not in self._failing:  # the usual case: no lock taken
            return
        with self._lock:
            state = self._failing.pop(what, None)
        if state is not None:
            logger.warning("Redis reachable again (was failing: %s)", what)

    def skipped(self, what: str) -> None:
        with self._lock:
            state = self._failing.get(what)
            if state is not None:
                state[1] += 1

    def reset(self) -> None:
        with self._lock:
            self._failing.clear()
            self._paused_until = 0.0


outage = _Outage()


class RedisPaused(redis.TimeoutError):
    """Not asked: a Redis call timed out moments ago (TIMEOUT_PAUSE_SECONDS)."""


def redis_paused(what: str) -> bool:
    """True (and `what` counted as failed) while this process leaves Redis
    alone after a timeout: the caller answers as if Redis were down."""
    if not outage.paused():
        return False
    outage.skipped(what)
    return True


def redis_unreachable(what: str, exc: BaseException) -> None:
    """Log that a Redis call (`what`: what it was for) failed, once per burst."""
    outage.failed(what, exc)


def redis_reachable(what: str) -> None:
    """Note that `what` works again (logged only after a failure)."""
    outage.recovered(what)


def limit_check(
    what: str, check: Callable[[], bool], *, if_unreachable: IfUnreachable = "allow"
) -> bool:
    """Run `check` (a rate-limit count that reads Redis or the cache) and
    return its answer; when Redis is unreachable, log it once per burst and
    answer True ("allow": the request goes through, the default) or False
    ("refuse": for limits that guard mail we send), or let the error
    through ("raise": a worker that should retry later)."""
    try:
        if redis_paused(what):
            raise RedisPaused("Redis timed out moments ago: not asked")
        allowed = check()
    except RedisPaused:
        if if_unreachable == "raise":
            raise
        return if_unreachable == "allow"
    except REDIS_ERRORS as exc:
        if if_unreachable == "raise":
            raise
        redis_unreachable(what, exc)
        return if_unreachable == "allow"
    redis_reachable(what)
    return allowed


def rate_limit_hit(
    key: str,
    *,
    limit: int,
    window_seconds: int,
    if_unreachable: IfUnreachable = "allow",
    what: str | None = None,
) -> bool:
    """Count one attempt against `key`; return False once the window's `limit` is used up.

    A fixed window is simple and needs one counter per key; its cost is that a
    burst straddling two windows can reach twice the limit, which is fine for
    spam protection.
    """

    def count() -> bool:
        window = int(time.time() // window_seconds)
        cache_key = f"ratelimit:{key}:{window}"
        # add() only creates the counter; incr() is atomic in Redis, so
        # concurrent requests each get their own count.
        cache.add(cache_key, 0, timeout=window_seconds)
        try:
            count = cache.incr(cache_key)
        except ValueError:
            # The counter expired between add() and incr(): this is a new window.
            cache.set(cache_key, 1, timeout=window_seconds)
            count = 1
        return count <= limit

    what = what or f"rate limit {key.split(':', 1)[0]} not counted"
    return limit_check(what, count, if_unreachable=if_unreachable)


def sliding_window_hit(
    limits: dict[str, int],
    *,
    window_seconds: int,
    if_unreachable: IfUnreachable = "allow",
    what: str | None = None,
) -> bool:
    """Count one event against every key in `limits` (key -> most allowed in
    any `window_seconds`); return False, counting nothing, if any key is full.

    A sorted set of timestamps per key: exact over any window, unlike a fixed
    window, which matters where the limit is a promise ("never more than N
    mails an hour"). The hit is added before counting, in one MULTI, so two
    concurrent callers cannot both take the last place. `what` names the
    limit in the outage log.
    """

    def count() -> bool:
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

    what = what or f"rate limit {next(iter(limits), '').split(':', 1)[0]} not counted"
    return limit_check(what, count, if_unreachable=if_unreachable)
