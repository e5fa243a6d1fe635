"""A message's words are indexed from its first 100,000 characters.

Postgres refuses a tsvector over 1 MB ("string is too long for tsvector"),
and the search trigger ran inside the write of the message: a mail, form,
API post or reply with about a megabyte of distinct words could not be
written at all (a mail was quarantined, and "Process again" failed the same
way). 100,000 characters of distinct one-letter-apart words make at most
about half a megabyte of tsvector, so no message is refused; the rest of a
longer text is kept and shown, only not found by search.
"""

from django.db import migrations

MESSAGE_TEXT = "left(coalesce({r}.body_text, ''), 100000)"


def _functions(schema: str, text: str) -> list[str]:
    vector = f"setweight(to_tsvector('simple', {text}), 'D')"
    return [
        f"""CREATE OR REPLACE FUNCTION {schema}.tickets_message_search_added()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.tickets_message_search (message_id, tenant_id, ticket_id, search_vector)
    SELECT r.id, r.tenant_id, r.ticket_id, {vector.format(r="r")} FROM added r;
    RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION {schema}.tickets_message_search_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.tickets_message_search (message_id, tenant_id, ticket_id, search_vector)
    VALUES (NEW.id, NEW.tenant_id, NEW.ticket_id, {vector.format(r="NEW")})
    ON CONFLICT (message_id) DO UPDATE
        SET ticket_id = excluded.ticket_id, search_vector = excluded.search_vector;
    RETURN NULL;
END $$""",
    ]


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return schema_editor.connection.ops.quote_name(cursor.fetchone()[0])


def bounded(apps, schema_editor):
    for statement in _functions(_schema(schema_editor), MESSAGE_TEXT):
        schema_editor.execute(statement)


def unbounded(apps, schema_editor):
    for statement in _functions(_schema(schema_editor), "coalesce({r}.body_text, '')"):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0025_outbound_digests")]

    operations = [migrations.RunPython(bounded, unbounded)]
