"""`make run` serves pages with Django's development server, which runs
every browser connection in a thread of its own."""

import http.client
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.processes import ROOT, app_connections, app_env, free_port

CLIENTS = 20
REQUESTS_PER_CLIENT = 75  # 1,500 in all


@pytest.fixture
def dev_server(db, tmp_path):
    port = free_port()
    log = tmp_path / "runserver.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=app_env(DEBUG="1", SECRET_KEY="dev-only-test-key"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=5).connect()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("runserver did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=15)


def _client(port: int) -> tuple[list[int], http.client.HTTPConnection]:
    """One browser-like client: one kept-alive connection, many requests."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    statuses = []
    for _ in range(REQUESTS_PER_CLIENT):
        conn.request("GET", "/healthz")  # a page that queries the database
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    return statuses, conn


def test_a_burst_of_requests_leaves_no_database_connections_open(dev_server):
    before = app_connections()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(_client, [dev_server] * CLIENTS))
    try:
        statuses = [status for client_statuses, _ in results for status in client_statuses]
        assert len(statuses) == CLIENTS * REQUESTS_PER_CLIENT
        assert set(statuses) == {200}
        # The clients keep their connections open, as browsers do; the
        # server's threads for them must not hold database connections.
        deadline = time.monotonic() + 5
        while (held := app_connections()) > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held <= before, f"{held - before} database connections left open"
    finally:
        for _, conn in results:
            conn.close()
