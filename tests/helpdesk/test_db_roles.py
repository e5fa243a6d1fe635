"""Two database roles: the app's owns nothing, so it cannot take the
row-level security wall down; the owner's runs migrations. The tests run as
the app's role (tests/conftest.py), as the web and worker processes do."""

import os
import re
import subprocess
import sys

import dj_database_url
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from helpdesk import db as tenant_db
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory

needs_owner = pytest.mark.skipif(
    settings.MIGRATE_DATABASE is None, reason="MIGRATE_DATABASE_URL is not set"
)


def _count_tickets_with_no_tenant_set() -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_ticket")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tickets_ticket NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE tickets_ticket DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON tickets_ticket",
        "CREATE POLICY everything ON tickets_ticket USING (true)",
        "ALTER TABLE tickets_ticket OWNER TO CURRENT_USER",
        "TRUNCATE tickets_ticket CASCADE",
        "DROP TABLE tickets_ticket CASCADE",
        "SET ROLE helpdesk_owner",
        "CREATE TABLE tickets_copy AS SELECT * FROM tickets_ticket",
        "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
    ],
)
def test_the_app_role_cannot_take_the_wall_down(tenant, other_tenant, statement):
    for owner in (tenant, other_tenant):
        with tenant_context(owner):
            TicketFactory()
    with pytest.raises(Exception, match="must be owner|permission denied"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    # A plain SELECT with no tenant set still returns no one's tickets.
    assert _count_tickets_with_no_tenant_set() == 0
    with tenant_context(tenant):
        assert _count_tickets_with_no_tenant_set() == 1


def test_the_app_role_owns_nothing_in_the_database(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND pg_has_role(current_user, c.relowner, 'MEMBER')"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT pg_has_role(current_user, d.datdba, 'MEMBER'), "
            "pg_has_role(current_user, n.nspowner, 'MEMBER') "
            "FROM pg_database d, pg_namespace n "
            "WHERE d.datname = current_database() AND n.nspname = current_schema()"
        )
        assert cursor.fetchone() == (False, False)


def _connect_as(credentials: dict):
    """A new connection to the test database with other credentials, opened
    the way the app opens its own (the start-up checks run)."""
    settings_dict = {**connection.settings_dict, **credentials}
    settings_dict.pop(tenant_db.OWNER_MARK, None)
    other = type(connections["default"])(settings_dict, alias="default")
    try:
        other.ensure_connection()
    finally:
        other.close()


@needs_owner
def test_the_app_refuses_to_run_as_the_role_that_owns_the_tables(db):
    owner = {
        key: settings.MIGRATE_DATABASE[key]
        for key in ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    }
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL connects as") as refused:
        _connect_as(owner)
    table = re.search(r"which owns the table '(\w+)'", str(refused.value))[1]
    assert table in {model._meta.db_table for model in tenant_db.tenant_owned_models()}
    # The app's own role passes the same check.
    _connect_as({})


def test_the_app_refuses_to_run_as_a_superuser(db):
    url = os.environ.get("HELPDESK_TEST_SUPERUSER_URL")
    if not url:
        pytest.skip(
            "no superuser to try: `make test` names its own server's in HELPDESK_TEST_SUPERUSER_URL"
        )
    superuser = dj_database_url.parse(url)
    superuser = {key: superuser[key] for key in ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")}
    with pytest.raises(ImproperlyConfigured, match="a superuser or BYPASSRLS role"):
        _connect_as(superuser)


def test_migrate_refuses_to_run_without_the_owner_role(db, settings):
    settings.MIGRATE_DATABASE = None
    with pytest.raises(CommandError, match="Set MIGRATE_DATABASE_URL"):
        call_command("migrate", verbosity=0)


@pytest.mark.parametrize(
    ("migrate_url", "message"),
    [
        ("postgresql://helpdesk@localhost/helpdesk", "must name the role that owns the tables"),
        ("postgresql://owner@localhost/other", "must name the same database"),
        ("mysql://owner@localhost/helpdesk", "must point at PostgreSQL"),
    ],
)
def test_settings_refuse_an_owner_url_that_cannot_work(migrate_url, message):
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://helpdesk@localhost/helpdesk",
        "MIGRATE_DATABASE_URL": migrate_url,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import helpdesk.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr
