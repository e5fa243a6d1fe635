"""The database wall: row-level security on every tenant-owned table, and
the two roles that keep it up. The app connects as a role that owns nothing
(DATABASE_URL), so it can neither skip the wall nor take it down;
`migrate` and `flush` connect as the role that owns the tables
(MIGRATE_DATABASE_URL) and grant the app's role what it needs."""

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

TENANT_SETTING = "app.tenant_id"
# An unset or empty setting gives NULL, and NULL matches no row.
TENANT_PREDICATE = f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint"


# In a connection's settings while it runs as MIGRATE_DATABASE_URL's role
# (the owner of the tables); the value is the app's own settings, put back after.
OWNER_MARK = "HELPDESK_TABLE_OWNER"
_CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def refuse_unsafe_role(sender, connection, **kwargs) -> None:
    """Row-level security must bind the role the app runs as: refuse a
    superuser or BYPASSRLS role (they skip it), and a role that owns one of
    the app's tables (an owner can turn the table's row-level security off)."""
    if connection.vendor != "postgresql" or settings.ALLOW_RLS_BYPASS_ROLE:
        return
    owner = connection.settings_dict.get(OWNER_MARK)
    # The owner connection must own the tables: only its RLS bypass is checked.
    tables, tenant_tables = [], []
    if not owner:
        tables = connection.introspection.django_table_names()
        tenant_tables = [model._meta.db_table for model in tenant_owned_models()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolname, r.rolsuper OR r.rolbypassrls, ("
            "  SELECT c.relname FROM pg_class c"
            "  WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p')"
            "  AND pg_table_is_visible(c.oid) AND pg_has_role(r.oid, c.relowner, 'MEMBER')"
            # A tenant table first: the one whose wall could come down.
            "  ORDER BY c.relname = ANY(%s) DESC, c.relname LIMIT 1"
            ") FROM pg_roles r WHERE r.rolname = current_user",
            [tables, tenant_tables],
        )
        role, bypasses, owned_table = cursor.fetchone()
    variable = "MIGRATE_DATABASE_URL" if owner else "DATABASE_URL"
    if bypasses:
        raise ImproperlyConfigured(
            f"{variable} connects as {role!r}, a superuser or BYPASSRLS role, so row-level "
            "security would not apply. Connect as an ordinary role "
            "(README, 'Using your own servers')."
        )
    if owned_table:
        raise ImproperlyConfigured(
            f"DATABASE_URL connects as {role!r}, which owns the table {owned_table!r} "
            "(or is a member of its owner), so it could turn the table's row-level security "
            "off. Run `migrate` as the role that owns the tables (MIGRATE_DATABASE_URL) and "
            "connect the app as a role that owns nothing (README, 'Using your own servers')."
        )


def connect_as_owner(connection) -> None:
    """Reconnect `connection` as the role that owns the tables
    (MIGRATE_DATABASE_URL), to the database it points at now."""
    if connection.settings_dict.get(OWNER_MARK):
        return
    if settings.MIGRATE_DATABASE is None:
        raise ImproperlyConfigured(
            "Set MIGRATE_DATABASE_URL to the role that owns the tables "
            "(README, 'Using your own servers')."
        )
    owner = {key: settings.MIGRATE_DATABASE[key] for key in _CREDENTIALS}
    _reconnect(
        connection, {**connection.settings_dict, **owner, OWNER_MARK: connection.settings_dict}
    )


def connect_as_app(connection) -> None:
    """Undo connect_as_owner: back to DATABASE_URL's role."""
    app = connection.settings_dict.get(OWNER_MARK)
    if not app:
        return
    # The test database set-up renames the database while the owner is connected.
    app["NAME"] = connection.settings_dict["NAME"]
    _reconnect(connection, app)


def _reconnect(connection, settings_dict: dict) -> None:
    if connection.in_atomic_block:
        raise RuntimeError("The database role cannot change inside a transaction.")
    connection.close()
    connection.settings_dict = settings_dict


@contextmanager
def as_table_owner(using: str = DEFAULT_DB_ALIAS):
    """Run the block connected as the role that owns the tables."""
    connection = connections[using]
    if connection.settings_dict.get(OWNER_MARK):
        yield
        return
    connect_as_owner(connection)
    try:
        yield
    finally:
        connect_as_app(connection)


def grant_app_role(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate, as the owner: the app's role may read and write rows
    (row-level security decides which), use sequences and call the owner's
    SECURITY DEFINER functions, and nothing else:
    no TRUNCATE (it ignores row-level security), no DDL, no changes to the
    migration history. Repeated on every migrate, for every table there is."""
    connection = connections[using]
    app = connection.settings_dict.get(OWNER_MARK)
    if not app:
        return  # one role for everything (ALLOW_RLS_BYPASS_ROLE): nobody to grant to
    quote = connection.ops.quote_name
    role = quote(app["USER"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        for statement in (
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            # Tables made later by hand get the same.
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {role}",
            f"REVOKE INSERT, UPDATE, DELETE ON {quote('django_migrations')} FROM {role}",
        ):
            cursor.execute(statement)
        # The owner's SECURITY DEFINER functions (ticket search, migration
        # tickets 0018) are revoked from PUBLIC and granted to the app alone;
        # each filters by the current tenant itself.
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.prosecdef"
            " AND p.proowner = current_user::regrole"
        )
        for (function,) in cursor.fetchall():
            cursor.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {role}")


def tenant_owned_models():
    from .models import TenantOwned

    return [
        model
        for model in apps.get_models(include_auto_created=False)
        if issubclass(model, TenantOwned) and not model._meta.proxy
    ]


# Postgres cuts identifiers to 63 bytes; a longer name is cut and given a
# hash of the whole, so two long names that share a start cannot collide.
MAX_NAME = 63


def constraint_name(table: str, suffix: str) -> str:
    """`<table>_<suffix>`, or, past 63 bytes, its start and a hash of the whole."""
    name = f"{table}_{suffix}"
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name.encode()[: MAX_NAME - 11].decode(errors='ignore')}_{digest}"


@dataclass(frozen=True)
class TenantKey:
    """A key the wall needs on `table`: UNIQUE (tenant_id, id) when
    `references` is None, else FOREIGN KEY (tenant_id, column) REFERENCES
    references (tenant_id, id)."""

    table: str
    columns: tuple[str, str]
    references: str | None = None

    @property
    def name(self) -> str:
        if self.references is None:
            return constraint_name(self.table, "tenant_id_key")
        return constraint_name(self.table, f"{self.columns[1]}_same_tenant")

    def add_sql(self) -> str:
        columns = ", ".join(f'"{column}"' for column in self.columns)
        if self.references is None:
            definition = f"UNIQUE ({columns})"
        else:
            definition = (
                f'FOREIGN KEY ({columns}) REFERENCES "{self.references}" (tenant_id, id) '
                "DEFERRABLE INITIALLY IMMEDIATE"
            )
        return f'ALTER TABLE "{self.table}" ADD CONSTRAINT "{self.name}" {definition}'


def tenant_keys(model) -> list[TenantKey]:
    """The (tenant_id, id) key of a tenant-owned table, and a composite
    foreign key for each of its foreign keys to another tenant-owned table."""
    table = model._meta.db_table
    # Foreign-key checks ignore RLS; a key on (tenant_id, id) lets the
    # references require the same tenant on both sides.
    keys = [TenantKey(table, ("tenant_id", "id"))]
    tenant_models = tenant_owned_models()
    for field in model._meta.concrete_fields:
        target = getattr(field, "related_model", None)
        if not field.many_to_one or field.name == "tenant" or target not in tenant_models:
            continue
        keys.append(TenantKey(table, ("tenant_id", field.column), target._meta.db_table))
    return keys


# Each constraint of the named tables by what it does: kind, table, columns,
# referenced table and columns (the columns in key order).
EXISTING_KEYS_SQL = """
SELECT c.contype, t.relname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.i),
       rt.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.i)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
WHERE c.contype IN ('p', 'u', 'f')
  AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
"""


def existing_tenant_keys(cursor, tables: list[str]) -> set[TenantKey]:
    """The keys the named tables have, by definition (not by name)."""
    cursor.execute(EXISTING_KEYS_SQL, [tables])
    found = set()
    for kind, table, columns, references, referenced_columns in cursor.fetchall():
        if len(columns) != 2:
            continue
        if kind in ("p", "u"):
            found.add(TenantKey(table, tuple(columns)))
        elif list(referenced_columns) == ["tenant_id", "id"]:
            found.add(TenantKey(table, tuple(columns), references))
    return found


def isolation_sql(model) -> list[str]:
    """Statements (all idempotent) that put one tenant-owned table behind row-level security."""
    table = model._meta.db_table
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        # FORCE: the owner (migrate, data migrations) is bound too.
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'CREATE POLICY tenant_isolation ON "{table}" '
        f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
    ]


def apply_tenant_isolation(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate, as the owner: every tenant-owned table gets its policy
    and keys, so a new model cannot be forgotten. A key is looked for by what
    it does (its columns and the table it references), so one that exists
    under another name is not added twice, and one whose name another
    constraint took is still added."""
    models = tenant_owned_models()
    wanted = [key for model in models for key in tenant_keys(model)]
    with connections[using].cursor() as cursor:
        for model in models:
            for statement in isolation_sql(model):
                cursor.execute(statement)
        existing = existing_tenant_keys(cursor, [model._meta.db_table for model in models])
        # Referenced tables need their (tenant_id, id) key before the references.
        for key in sorted(wanted, key=lambda key: key.references is not None):
            if key not in existing:
                cursor.execute(key.add_sql())
