"""Email intake through the real parts: mail POSTed to the inbound webhook of
a gunicorn server, filed by a Celery worker, acknowledgements sent by the
same worker; timed from the first POST until every message is filed and
every event handled.

bench_intake.py measures the intake code alone; this one measures what a
mail server sees. It starts gunicorn (2 sync workers) and a Celery worker
(--concurrency 2) against the project database, on their own Redis database,
posts the mail from --clients threads, waits, reports and stops them.
Outgoing mail goes to Django's dummy backend (rendered, recorded, not sent).

    .venv/bin/python bench/bench_intake_http.py --tenant bench1m --new 2000 --replies 1000
"""

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-" + "x" * 20)
# The servers started below inherit these; a Redis database of their own
# keeps a running dev worker from taking the bench's tasks.
os.environ["REDIS_URL"] = (
    os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0").rsplit("/", 1)[0] + "/3"
)
os.environ.update(
    DEBUG="0",
    ALLOWED_HOSTS="127.0.0.1,localhost",
    SECURE_SSL_REDIRECT="0",
    STATIC_MANIFEST="0",
    EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402
import redis  # noqa: E402

django.setup()

from bench_intake import bench_mailbox, bench_messages  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets import services  # noqa: E402
from tickets.models import Event, InboundEmail, OutboundEmail, Ticket  # noqa: E402

PORT = 8043
BIN = Path(sys.executable).parent


def _start(command: list, log: Path, env: dict) -> subprocess.Popen:
    output = open(log, "w")  # noqa: SIM115 - open for as long as the server runs
    return subprocess.Popen(  # noqa: S603 - our own commands, no shell
        command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
    )


def start_servers(logs: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "STATIC_ROOT": tempfile.mkdtemp()}
    web = _start(
        [BIN / "gunicorn", "helpdesk.wsgi", "-w", "2", "-b", f"127.0.0.1:{PORT}"],
        logs / "web.log",
        env,
    )
    worker = _start(
        [BIN / "celery", "-A", "helpdesk", "worker", "--concurrency", "2", "-l", "WARNING"],
        logs / "worker.log",
        env,
    )
    for _ in range(150):
        try:
            answer = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            answer.request("GET", "/healthz")
            if answer.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit(f"gunicorn did not start; see {logs / 'web.log'}")
    time.sleep(3)  # the worker connects to the broker
    return [web, worker]


def post_all(path: str, token: str, messages: list[bytes], clients: int) -> None:
    """POST every message to the webhook from `clients` threads, one
    keep-alive connection each, as a relay with a few connections would."""
    pending = list(messages)
    lock = threading.Lock()
    failures = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        while True:
            with lock:
                if not pending:
                    return
                raw = pending.pop()
            connection.request(
                "POST", path, body=raw,
                headers={"Content-Type": "message/rfc822", "X-Helpdesk-Token": token},
            )  # fmt: skip
            response = connection.getresponse()
            response.read()
            if response.status != 202:
                failures.append(response.status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]


def waiting(tenant, since) -> tuple[int, int]:
    """Stored mail not yet filed, and follow-on work not yet done: events
    whose handlers have not run, acknowledgements not yet sent."""
    with tenant_context(tenant):
        mail_left = InboundEmail.objects.filter(status="received").count()
        work_left = (
            Event.objects.filter(created_at__gte=since, processed_at__isnull=True).count()
            + OutboundEmail.objects.filter(created_at__gte=since)
            .exclude(status__in=["sent", "failed"])
            .count()
        )
    connection.close()
    return mail_left, work_left


def run(tenant, path, token, messages, clients) -> str:
    with tenant_context(tenant):
        since = timezone.now()
        before = InboundEmail.objects.filter(status="processed").count()
    started = time.monotonic()
    post_all(path, token, messages, clients)
    posted = time.monotonic()
    filed_at = None
    while True:
        mail_left, work_left = waiting(tenant, since)
        if mail_left == 0 and filed_at is None:
            filed_at = time.monotonic()
        if mail_left == 0 and work_left == 0:
            break
        time.sleep(0.05)
    handled_at = time.monotonic()
    with tenant_context(tenant):
        filed = InboundEmail.objects.filter(status="processed").count() - before
    assert filed == len(messages), f"{filed} of {len(messages)} filed"
    n = len(messages)
    return (
        f"{n / (filed_at - started):.0f}/s filed, {n / (handled_at - started):.0f}/s with "
        f"acknowledgements sent ({n} messages; the webhook took them at "
        f"{n / (posted - started):.0f}/s; filed {filed_at - posted:.1f} s and all sent "
        f"{handled_at - posted:.1f} s after the last POST)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4, help="concurrent POSTing threads")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        mailbox = bench_mailbox(tenant)
        token = services.mailbox_new_token(mailbox=mailbox, actor=None)
        tickets = Ticket.objects.count()
        new_mail, replies = bench_messages(
            tenant, new=args.new, replies=args.replies, sender_prefix="http", seed=7
        )
        assert not InboundEmail.objects.filter(status="received").exists(), "mail already waits"
    connection.close()
    path = f"/inbound/{tenant.slug}/{mailbox.public_id}/"
    # Tasks an earlier run left in the bench's Redis database would be
    # counted against this one.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    logs = Path(tempfile.mkdtemp(prefix="bench-intake-http-"))
    servers = start_servers(logs)
    try:
        for label, messages in (("new mail", new_mail), ("replies", replies)):
            if messages:
                result = run(tenant, path, token, messages, args.clients)
                print(f"{args.tenant} ({tickets:,} tickets before), {label}: {result}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
