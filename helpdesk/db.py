"""The database wall: row-level security on every tenant-owned table."""

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

TENANT_SETTING = "app.tenant_id"
# An unset or empty setting gives NULL, and NULL matches no row.
TENANT_PREDICATE = f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint"


def refuse_rls_bypassing_role(sender, connection, **kwargs) -> None:
    """Superusers and BYPASSRLS roles skip row-level security: never run as one."""
    if connection.vendor != "postgresql" or settings.ALLOW_RLS_BYPASS_ROLE:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        role, bypasses = cursor.fetchone()
    if bypasses:
        raise ImproperlyConfigured(
            f"DATABASE_URL connects as {role!r}, a superuser or BYPASSRLS role, so row-level "
            "security would not apply. Connect as an ordinary role that owns the database "
            "(see README, 'Database roles')."
        )


def tenant_owned_models():
    from .models import TenantOwned

    return [
        model
        for model in apps.get_models(include_auto_created=False)
        if issubclass(model, TenantOwned) and not model._meta.proxy
    ]


def isolation_sql(model) -> list[str]:
    """Statements (all idempotent) that wall one tenant-owned table off."""
    table = model._meta.db_table
    statements = [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        # FORCE: the owner role the app connects as is bound too.
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'CREATE POLICY tenant_isolation ON "{table}" '
        f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
        # Foreign-key checks ignore RLS; a key on (tenant_id, id) lets the
        # references below require the same tenant on both sides.
        _add_constraint_sql(table, f"{table}_tenant_id_key", "UNIQUE (tenant_id, id)"),
    ]
    for field in model._meta.concrete_fields:
        target = getattr(field, "related_model", None)
        if not field.many_to_one or field.name == "tenant" or target is None:
            continue
        if target not in tenant_owned_models():
            continue
        target_table = target._meta.db_table
        statements.append(
            _add_constraint_sql(
                table,
                f"{table}_{field.column}_same_tenant"[:63],
                f'FOREIGN KEY (tenant_id, "{field.column}") '
                f'REFERENCES "{target_table}" (tenant_id, id) DEFERRABLE INITIALLY IMMEDIATE',
            )
        )
    return statements


def _add_constraint_sql(table: str, name: str, definition: str) -> str:
    return (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{name}') THEN "
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}; '
        "END IF; END $$"
    )


def apply_tenant_isolation(sender, using="default", **kwargs) -> None:
    """post_migrate: every tenant-owned table gets its policy and keys, so a
    new model cannot be forgotten."""
    models = tenant_owned_models()
    # Referenced tables need their (tenant_id, id) key before the references.
    with connections[using].cursor() as cursor:
        for model in models:
            for statement in isolation_sql(model)[:5]:
                cursor.execute(statement)
        for model in models:
            for statement in isolation_sql(model)[5:]:
                cursor.execute(statement)
