"""The composite keys that keep a row from pointing into another tenant:
(tenant_id, id) on every tenant table, and (tenant_id, col) -> (tenant_id, id)
for every foreign key between two tenant tables. Looked for in the database
by what they do, never by name."""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from helpdesk import db as tenant_db
from helpdesk.models import TenantOwned
from tickets.models import Message

needs_owner = pytest.mark.skipif(
    settings.MIGRATE_DATABASE is None, reason="MIGRATE_DATABASE_URL is not set"
)


def _tenant_models():
    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and not model._meta.proxy
    ]


def _tenant_to_tenant_foreign_keys():
    """(table, column, referenced table) of every ForeignKey between two tenant models."""
    tenant_models = _tenant_models()
    for model in tenant_models:
        for field in model._meta.concrete_fields:
            if (
                field.many_to_one
                and field.name != "tenant"
                and field.related_model in tenant_models
            ):
                yield model._meta.db_table, field.column, field.related_model._meta.db_table


def _constraint_definitions(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')",
            [connection.ops.quote_name(table)],
        )
        return {row[0] for row in cursor.fetchall()}


def _composite_key(column: str, target: str) -> str:
    return f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target}(tenant_id, id) DEFERRABLE"


def test_every_tenant_to_tenant_foreign_key_is_composite(db):
    keys = list(_tenant_to_tenant_foreign_keys())
    # The walk is not empty: messages point at tickets, members at groups.
    assert ("tickets_message", "ticket_id", "tickets_ticket") in keys
    assert ("helpdesk_supportgroupmember", "group_id", "helpdesk_supportgroup") in keys
    missing = [
        (table, column)
        for table, column, target in keys
        if _composite_key(column, target) not in _constraint_definitions(table)
    ]
    assert missing == []


def test_every_tenant_table_has_its_tenant_and_id_key(db):
    missing = [
        model._meta.db_table
        for model in _tenant_models()
        if "UNIQUE (tenant_id, id)" not in _constraint_definitions(model._meta.db_table)
    ]
    assert missing == []


def test_long_names_that_share_their_start_do_not_collide():
    table = "knowledge_articlecategorysubscriptionpreference"
    first = tenant_db.constraint_name(table, "notify_escalation_manager_id_same_tenant")
    second = tenant_db.constraint_name(table, "notify_escalation_manager_backup_id_same_tenant")
    assert first != second
    assert len(first.encode()) <= 63 and len(second.encode()) <= 63
    assert first.startswith(table)
    # Short names stay readable.
    assert tenant_db.constraint_name("tickets_message", "ticket_id_same_tenant") == (
        "tickets_message_ticket_id_same_tenant"
    )


def _message_ticket_keys(cursor) -> list[str]:
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'tickets_message'::regclass"
        " AND pg_get_constraintdef(oid) = %s",
        [_composite_key("ticket_id", "tickets_ticket")],
    )
    return [row[0] for row in cursor.fetchall()]


@needs_owner
@pytest.mark.django_db(transaction=True)
def test_a_key_whose_name_another_constraint_took_is_still_made():
    """Checked by name, a constraint elsewhere with the key's name (what two
    names cut to 63 characters produce) would have skipped the key."""
    key = next(
        key for key in tenant_db.tenant_keys(Message) if key.columns == ("tenant_id", "ticket_id")
    )
    with tenant_db.as_table_owner(), connection.cursor() as cursor:
        try:
            for name in _message_ticket_keys(cursor):
                cursor.execute(f'ALTER TABLE tickets_message DROP CONSTRAINT "{name}"')
            cursor.execute(
                f'ALTER TABLE tickets_attachment ADD CONSTRAINT "{key.name}" CHECK (true)'
            )
            tenant_db.apply_tenant_isolation(sender=None)
            assert _message_ticket_keys(cursor) == [key.name]
            # Run again, nothing is added twice.
            tenant_db.apply_tenant_isolation(sender=None)
            assert _message_ticket_keys(cursor) == [key.name]
        finally:
            cursor.execute(f'ALTER TABLE tickets_attachment DROP CONSTRAINT IF EXISTS "{key.name}"')
            tenant_db.apply_tenant_isolation(sender=None)
