"""Rate limits with Redis up and down: counted while it answers; while it is
down a request is let through (or, for limits that guard our mail, refused),
and the outage is logged once per burst, not once per request."""

import logging
import time

import pytest
import redis
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import SimpleRateThrottle

from helpdesk import ratelimit
from helpdesk.ratelimit import limit_check, rate_limit_hit, sliding_window_hit


@pytest.fixture
def redis_down(own_redis):
    own_redis.stop()
    return own_redis


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "helpdesk.ratelimit"]


def test_limits_count_while_redis_answers(own_redis):
    assert [rate_limit_hit("t:fixed", limit=2, window_seconds=60) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    hits = [sliding_window_hit({"t:sliding": 2}, window_seconds=60) for _ in range(3)]
    assert hits == [True, True, False]


def test_with_redis_down_limits_let_requests_through_unless_told_otherwise(redis_down):
    assert rate_limit_hit("t:fixed", limit=0, window_seconds=60) is True
    assert sliding_window_hit({"t:sliding": 0}, window_seconds=60) is True
    assert sliding_window_hit({"t:mail": 5}, window_seconds=60, if_unreachable="refuse") is False
    with pytest.raises(redis.ConnectionError):
        sliding_window_hit({"t:mail": 5}, window_seconds=60, if_unreachable="raise")


def test_an_outage_is_logged_once_per_burst_and_its_end_once(own_redis, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="helpdesk.ratelimit")
    own_redis.stop()
    for _ in range(50):
        rate_limit_hit("t:burst", limit=10, window_seconds=60, what="test limit")
    assert _warnings(caplog) == [
        f"Redis unreachable, test limit: Error 111 connecting to 127.0.0.1:{own_redis.port}. "
        "Connection refused."
    ]
    # A long outage: one reminder per interval, with the count of what went unlogged.
    monkeypatch.setattr(ratelimit, "OUTAGE_LOG_INTERVAL_SECONDS", 0)
    rate_limit_hit("t:burst", limit=10, window_seconds=60, what="test limit")
    assert "49 more failures since the last warning" in _warnings(caplog)[-1]
    own_redis.start()
    for _ in range(5):
        assert rate_limit_hit("t:burst", limit=10, window_seconds=60, what="test limit")
    assert _warnings(caplog)[-1] == "Redis reachable again (was failing: test limit)"
    assert len(_warnings(caplog)) == 3


def test_after_a_timeout_redis_is_left_alone_for_a_moment(own_redis, monkeypatch):
    monkeypatch.setattr(ratelimit, "TIMEOUT_PAUSE_SECONDS", 2)
    own_redis.freeze()

    def timed(key):
        started = time.monotonic()
        allowed = sliding_window_hit({key: 1}, window_seconds=60)
        return allowed, time.monotonic() - started

    allowed, first = timed("t:hung")
    assert allowed and 0.9 < first < 2  # one read timeout
    allowed, second = timed("t:hung")
    assert allowed and second < 0.1  # not asked
    own_redis.thaw()
    assert timed("t:back") == (True, pytest.approx(0, abs=0.1))  # still not asked: not counted
    time.sleep(2)
    assert [timed("t:back")[0] for _ in range(2)] == [True, False]  # counted again


def test_other_errors_are_not_taken_for_an_outage(own_redis):
    def broken():
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        limit_check("test", broken)


class _KeyThrottle(SimpleRateThrottle):
    """A DRF throttle as the API has one, counted through limit_check: what
    the API's throttle should do (it lives on another branch)."""

    rate = "2/min"

    def get_cache_key(self, request, view):
        return "throttle_test_key"

    def allow_request(self, request, view):
        return limit_check(
            "API rate limit not counted",
            lambda: super(_KeyThrottle, self).allow_request(request, view),
        )


@pytest.mark.parametrize("up", [True, False])
def test_a_drf_throttle_wrapped_in_limit_check_survives_an_outage(own_redis, up):
    from django.core.cache import cache

    cache.delete("throttle_test_key")
    if not up:
        own_redis.stop()
    request = APIRequestFactory().get("/")
    answers = [_KeyThrottle().allow_request(request, None) for _ in range(3)]
    assert answers == ([True, True, False] if up else [True, True, True])
