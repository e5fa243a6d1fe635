"""`make run` (scripts/devstack.py): a crashed worker or beat is started
again while the rest keep running; Ctrl-C stops everything. And the queues
it, and docker-compose.yml, give their workers."""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from django.conf import settings

from tests.processes import ROOT

spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
devstack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(devstack)

# A stand-in for `make run`'s stack: the Supervisor of scripts/devstack.py
# with programs that sleep (or crash), and quick limits.
HARNESS = """
import signal, sys
sys.path.insert(0, {scripts!r})
import devstack
signal.signal(signal.SIGINT, devstack._stop_on_signal)
signal.signal(signal.SIGTERM, devstack._stop_on_signal)
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
crash = [sys.executable, "-c", "raise SystemExit(3)"]
programs = [
    devstack.Program("web", sleep, restart=False),
    devstack.Program("worker", {worker}, restart=True),
    devstack.Program("beat", sleep, restart=True),
]
sys.exit(devstack.Supervisor(programs, max_restarts=3, window=60, poll=0.05).serve())
"""


class Stack:
    def __init__(self, tmp_path, worker="sleep"):
        self.log_path = tmp_path / "devstack.log"
        code = HARNESS.format(scripts=str(ROOT / "scripts"), worker=worker)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(pattern, self.log):
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in:\n{self.log}")

    def pids(self, name: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"\] {name} started \(pid (\d+)\)", self.log)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: exited, not yet reaped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


@pytest.fixture
def stack(tmp_path):
    stacks = []

    def start(**kwargs):
        stacks.append(Stack(tmp_path, **kwargs))
        return stacks[-1]

    yield start
    for started in stacks:
        started.stop()


def test_a_killed_worker_is_restarted_and_the_rest_keep_running(stack):
    run = stack()
    run.wait_for(r"beat started")
    [web], [worker] = run.pids("web"), run.pids("worker")
    os.kill(worker, signal.SIGKILL)
    run.wait_for(r"worker was killed by SIGKILL; restarting it \(1 of 3 restarts within 60 s\)")
    run.wait_for(r"worker started \(pid \d+\)[\s\S]*worker started")
    [_, restarted] = run.pids("worker")
    assert _alive(restarted) and _alive(web)
    assert run.process.poll() is None
    assert run.pids("web") == [web] and len(run.pids("beat")) == 1

    # Ctrl-C still stops everything.
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(timeout=20) == 0
    assert "stopping" in run.log
    assert not any(_alive(pid) for pid in [web, restarted, *run.pids("beat")])


def test_a_worker_that_keeps_crashing_stops_the_stack_after_the_limit(stack):
    run = stack(worker="crash")
    assert run.process.wait(timeout=30) == 1
    assert len(run.pids("worker")) == 4  # the first start and 3 restarts
    assert re.search(r"worker exited with code 3, restarted 3 times within 60 s already", run.log)
    assert not _alive(run.pids("web")[0])


def test_when_the_web_server_exits_the_stack_stops(stack):
    run = stack()
    run.wait_for(r"beat started")
    [web] = run.pids("web")
    os.kill(web, signal.SIGTERM)
    assert run.process.wait(timeout=20) == 1
    assert "web was killed by SIGTERM; stopping the rest" in run.log
    assert not any(_alive(pid) for pid in run.pids("worker") + run.pids("beat"))


def _queues(argv: list[str]) -> set[str]:
    return set(argv[argv.index("-Q") + 1].split(",")) if "-Q" in argv else {"*"}


def _check_workers(workers: dict[str, list[str]]) -> None:
    """IMAP polling has a worker of its own, one process; the other queues
    are all taken by the main worker."""
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    queues = {name: _queues(argv) for name, argv in workers.items()}
    imap = [name for name, taken in queues.items() if "imap" in taken]
    assert len(imap) == 1 and queues[imap[0]] == {"imap"}, queues
    argv = workers[imap[0]]
    assert argv[argv.index("-c") + 1] == "1"
    assert set().union(*queues.values()) == declared, queues


def test_make_run_polls_imap_in_a_worker_of_its_own():
    programs = devstack.stack_programs("8000", {})
    workers = {p.name: p.argv for p in programs if "worker" in p.argv}
    assert len(workers) == 2
    _check_workers(workers)
    assert {p.name for p in programs if p.restart} == {"worker", "imap-worker", "beat"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_polls_imap_in_a_worker_of_its_own():
    services = _compose()["services"]
    workers = {
        name: service["command"].split()
        for name, service in services.items()
        if " worker " in f" {service.get('command', '')} "
    }
    assert len(workers) == 2
    _check_workers(workers)


def test_compose_needs_a_secret_key_and_runs_the_app_without_the_owner_role():
    compose = _compose()
    services = compose["services"]
    for name in ("web", "worker", "imap-worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        assert env["DEBUG"] == "${DEBUG:-0}", name
        assert env["DATABASE_URL"].startswith("postgresql://helpdesk:"), name
        assert ("MIGRATE_DATABASE_URL" in env) == (name == "migrate"), name
    assert services["migrate"]["environment"]["MIGRATE_DATABASE_URL"].startswith(
        "postgresql://helpdesk_owner:"
    )
    for name in ("web", "worker", "imap-worker", "beat"):
        needs = services[name]["depends_on"]["migrate"]
        assert needs == {"condition": "service_completed_successfully"}, name
    # Postgres makes both roles with the SQL `make run` uses.
    mounts = services["postgres"]["volumes"]
    assert "./docker/postgres-init.sql:/docker-entrypoint-initdb.d/10-helpdesk.sql:ro" in mounts


def test_a_redis_on_the_remembered_port_that_is_not_this_checkouts_is_left_alone(
    tmp_path, monkeypatch
):
    """A second checkout once took the first one's Redis for its own (its
    remembered port answered): its tests ran on the other's broker. Now a
    checkout starts its own unless its pid file names a live Redis."""
    from urllib.parse import urlparse

    others = urlparse(settings.REDIS_URL).port
    assert devstack._redis_answers(others)
    monkeypatch.setattr(devstack, "DATA", tmp_path)
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "port").write_text(str(others))
    services = devstack.LocalServices()
    port = urlparse(services._start_redis(0)).port
    try:
        assert port != others
        assert devstack._redis_answers(port)
        # Asked again (the next `make test`), it finds its own and keeps it.
        again = devstack.LocalServices()
        assert urlparse(again._start_redis(0)).port == port
    finally:
        services.stop()
    assert not devstack._redis_answers(port)
    assert devstack._redis_answers(others)  # the other checkout's still runs
