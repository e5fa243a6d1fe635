"""The per-key rate limit under concurrency and without Redis."""

import http.client
import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from helpdesk.api.throttling import ApiKeyRateThrottle
from tests.api.conftest import make_key, tickets_url


def _throttled_in_parallel(requests: int, clients: int) -> list[bool]:
    """`requests` requests of one key from `clients` threads at once."""
    request = SimpleNamespace(auth=SimpleNamespace(pk=424242))

    def one(_):
        return ApiKeyRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, range(requests)))


def test_parallel_clients_get_exactly_the_limit(settings):
    # 900 from 6 parallel clients gave 697 answers against a limit of 600.
    settings.API_RATE = "600/min"
    answers = _throttled_in_parallel(900, 6)
    assert answers.count(True) == 600
    assert answers.count(False) == 300


def test_sixteen_parallel_clients_are_throttled_too(settings):
    # 650 from 16 parallel clients gave no refusal at all.
    settings.API_RATE = "600/min"
    answers = _throttled_in_parallel(650, 16)
    assert answers.count(True) == 600


def test_parallel_http_clients_against_the_server(live_server, tenant, admin_user, settings):
    """The same over HTTP, through every layer, with the server's own threads."""
    settings.API_RATE = "40/min"
    key = make_key(tenant, actor=admin_user)[1]

    host, port = live_server.url.removeprefix("http://").split(":")

    def status(_):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request(
                "GET", f"{tickets_url()}?limit=1", headers={"Authorization": f"Bearer {key}"}
            )
            return connection.getresponse().status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(status, range(60)))
    assert statuses.count(200) == 40
    assert statuses.count(429) == 20


def test_over_the_limit_is_429_with_retry_after(tenant, write_key, api, settings):
    settings.API_RATE = "2/h"
    assert api(write_key).get(tickets_url()).status_code == 200
    assert api(write_key).get(tickets_url()).status_code == 200
    response = api(write_key).get(tickets_url())
    assert response.status_code == 429
    assert response.json() == {"errors": {"detail": [response.json()["errors"]["detail"][0]]}}
    assert 3500 < int(response["Retry-After"]) <= 3600


def test_redis_down_lets_requests_through_and_logs(tenant, write_key, api, settings, caplog):
    settings.API_RATE = "1/min"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="helpdesk.api.throttling"):
        for _ in range(3):
            assert api(write_key).get(tickets_url()).status_code == 200
    assert "Redis is unreachable" in caplog.text
