"""Helpers for tests that start the app's own processes (the development
server, a Celery worker) against the test database, as the app's role."""

import os
import socket
from pathlib import Path
from urllib.parse import quote, urlencode

from django.db import connection

from helpdesk import db as tenant_db

ROOT = Path(__file__).resolve().parent.parent


def app_database_url() -> str:
    """DATABASE_URL for the test database, with the app's role."""
    config = connection.settings_dict.get(tenant_db.OWNER_MARK) or connection.settings_dict
    auth = quote(config["USER"], safe="")
    if config["PASSWORD"]:
        auth += ":" + quote(config["PASSWORD"], safe="")
    port = f":{config['PORT']}" if config["PORT"] else ""
    query = urlencode(config.get("OPTIONS") or {})
    return f"postgresql://{auth}@{config['HOST']}{port}/{connection.settings_dict['NAME']}" + (
        f"?{query}" if query else ""
    )


def app_env(**extra: str) -> dict[str, str]:
    """The environment of a web or worker process: no owner, no superuser."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MIGRATE_DATABASE_URL", "HELPDESK_TEST_SUPERUSER_URL")
    }
    env.update(DATABASE_URL=app_database_url(), **extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_connections() -> int:
    """Connections the app's role holds to the test database, besides ours."""
    with connection.cursor() as cursor:
        # Activity is a snapshot per transaction; the test runs in one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND usename = current_user AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
