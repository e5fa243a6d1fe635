"""Search without a superuser: the words move to tables of their own.

Under row-level security the planner answers a text match (`@@`) from an
index ahead of the tenant policy only when the match function is LEAKPROOF,
which only a superuser can mark; hosted Postgres gives none, and without it
every search read all of a tenant's rows. The words of subjects, requesters
and messages now live in three search tables that enable the tenant policy
without FORCE, so that their owner (the role that runs this migration) skips
it, and one SECURITY DEFINER function owned by that role reads them with the
policy's own tenant predicate as an index condition (README, "Search"):

- the tenant comes from the same setting the policy reads, never from an
  argument, so the function returns nothing the policy would not show the
  caller (an unset setting matches no row);
- it reads only the search tables and returns ids and ranks; the rest of the
  search runs as the app's role, under the policy;
- its search_path is pg_catalog then pg_temp and every table is named with
  its schema, so no object of the caller's can stand in for one of ours;
- EXECUTE is revoked from PUBLIC; the post-migrate step grants it to the
  app's role (helpdesk/db.py).

Triggers keep the search tables current (invoker's rights: the app's role
writes its own tenant's rows under the policy); a composite foreign key ties
each row to its source row in the same tenant and deletes it with it.

Not atomic, so that a large desk keeps working while it runs: the triggers
go live first, the rows there are are copied in short transactions (reads
and writes go on meanwhile), and the indexes are built CONCURRENTLY.
The old columns and their indexes go in the next migration.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.contrib.postgres.search import SearchVectorField
from django.db import IntegrityError, OperationalError, migrations, models, transaction

from helpdesk.db import TENANT_PREDICATE

# Each search table: its key (the source row's id), the table it copies, the
# columns whose change rewrites a row, the columns it copies as they are and
# its vector (of the source row `{r}`).
# The same vectors as the generated columns they replace (0005_search).
SOURCES = [
    {
        "search": "tickets_ticket_search",
        "key": "ticket_id",
        "source": "tickets_ticket",
        "columns": ["subject"],
        "copied": [],
        "vector": "setweight(to_tsvector('simple', coalesce({r}.subject, '')), 'A')",
    },
    {
        "search": "tickets_contact_search",
        "key": "contact_id",
        "source": "tickets_contact",
        "columns": ["name", "email"],
        "copied": [],
        # The address also as its parts, so "pat" or "example.com" finds pat@example.com.
        "vector": (
            "setweight(to_tsvector('simple', coalesce({r}.name, '') || ' ' "
            "|| coalesce({r}.email, '') || ' ' || coalesce(replace({r}.email, '@', ' '), '')), 'B')"
        ),
    },
    {
        "search": "tickets_message_search",
        "key": "message_id",
        "source": "tickets_message",
        "columns": ["body_text", "ticket_id"],
        "copied": ["ticket_id"],
        "vector": "setweight(to_tsvector('simple', coalesce({r}.body_text, '')), 'D')",
    },
]

MATCHES_FUNCTION = "tickets_search_matches(tsquery, integer)"


def _matches_function_sql(schema: str) -> str:
    """Each source's matches for the current tenant, at most `per_source`
    of each (unordered: ranking happens outside, on what is returned).
    MATERIALIZED: planned to return all its rows (a GIN bitmap scan) while
    the LIMIT below still stops it early."""
    return f"""
CREATE FUNCTION {schema}.tickets_search_matches(query tsquery, per_source integer)
RETURNS TABLE (source text, source_id bigint, ticket_id bigint, rank real)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
WITH subject_matches AS MATERIALIZED (
    SELECT ticket_id, ts_rank(search_vector, query) AS rank
    FROM {schema}.tickets_ticket_search
    WHERE {TENANT_PREDICATE} AND search_vector @@ query
), requester_matches AS MATERIALIZED (
    SELECT contact_id, ts_rank(search_vector, query) AS rank
    FROM {schema}.tickets_contact_search
    WHERE {TENANT_PREDICATE} AND search_vector @@ query
), message_matches AS MATERIALIZED (
    SELECT message_id, ticket_id, ts_rank(search_vector, query) AS rank
    FROM {schema}.tickets_message_search
    WHERE {TENANT_PREDICATE} AND search_vector @@ query
)
(SELECT 's', ticket_id, ticket_id, rank FROM subject_matches LIMIT per_source)
UNION ALL
(SELECT 'r', contact_id, NULL::bigint, rank FROM requester_matches LIMIT per_source)
UNION ALL
(SELECT 'm', message_id, ticket_id, rank FROM message_matches LIMIT per_source)
$$"""


def _columns(source: dict) -> str:
    return ", ".join([source["key"], "tenant_id", *source["copied"], "search_vector"])


def _values(source: dict, row: str) -> str:
    """The search table's row made from the source row `row`."""
    copied = [f"{row}.{column}" for column in source["copied"]]
    return ", ".join([f"{row}.id", f"{row}.tenant_id", *copied, source["vector"].format(r=row)])


def _source_sql(schema: str, source: dict) -> list[str]:
    search, key, table = source["search"], source["key"], source["source"]
    columns = _columns(source)
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in source["columns"])
    assignments = ", ".join(f"{c} = excluded.{c}" for c in [*source["copied"], "search_vector"])
    references = [(key, table)] + [(c, "tickets_ticket") for c in source["copied"]]
    return [
        # The (tenant_id, id) key the post-migrate step gives every tenant
        # table (helpdesk/db.py, same name), made now for the references below.
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint "
        f"WHERE conname = '{table}_tenant_id_key') THEN ALTER TABLE {schema}.{table} "
        f"ADD CONSTRAINT {table}_tenant_id_key UNIQUE (tenant_id, id); END IF; END $$",
        *(
            f"ALTER TABLE {schema}.{search} ADD CONSTRAINT {search}_{column}_same_tenant "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {schema}.{target} (tenant_id, id) "
            "ON DELETE CASCADE"
            for column, target in references
        ),
        # Not FORCE: the owner, and so the search function, skips the policy.
        f"ALTER TABLE {schema}.{search} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {schema}.{search} "
        f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})",
        # A statement's new rows at once (a bulk load is one INSERT).
        f"""CREATE FUNCTION {schema}.{search}_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.{search} ({columns}) SELECT {_values(source, "r")} FROM added r;
    RETURN NULL;
END $$""",
        f"CREATE TRIGGER {search}_added AFTER INSERT ON {schema}.{table} "
        f"REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION "
        f"{schema}.{search}_added()",
        # An upsert: while the rows there are are being copied (below), the
        # row may not be in the search table yet, or be there with old words.
        f"""CREATE FUNCTION {schema}.{search}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.{search} ({columns}) VALUES ({_values(source, "NEW")})
    ON CONFLICT ({key}) DO UPDATE SET {assignments};
    RETURN NULL;
END $$""",
        f"CREATE TRIGGER {search}_changed AFTER UPDATE OF {', '.join(source['columns'])} "
        f"ON {schema}.{table} FOR EACH ROW WHEN ({changed}) "
        f"EXECUTE FUNCTION {schema}.{search}_changed()",
    ]


def _fill_sql(schema: str, source: dict) -> str:
    """Copy the current tenant's next `%(size)s` source rows after id
    `%(after)s`; return the last id copied. DO NOTHING: a row the triggers
    wrote meanwhile is newer than this statement's snapshot of it."""
    return f"""
WITH batch AS MATERIALIZED (
    SELECT * FROM {schema}.{source['source']} r WHERE r.id > %(after)s ORDER BY r.id LIMIT %(size)s
), copied AS (
    INSERT INTO {schema}.{source['search']} ({_columns(source)})
    SELECT {_values(source, 'r')} FROM batch r
    ON CONFLICT ({source['key']}) DO NOTHING
)
SELECT max(id) FROM batch"""


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return schema_editor.connection.ops.quote_name(cursor.fetchone()[0])


def create_search_plumbing(apps, schema_editor):
    schema = _schema(schema_editor)
    for source in SOURCES:
        for statement in _source_sql(schema, source):
            schema_editor.execute(statement)
    schema_editor.execute(_matches_function_sql(schema))
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {schema}.{MATCHES_FUNCTION} FROM PUBLIC")


# Source rows copied per transaction. Short transactions: an edit of a row
# being copied waits for its batch, and an edit of several rows at once can
# deadlock with it (Postgres then cancels one of the two).
FILL_BATCH = 5000


def fill_search_tables(apps, schema_editor):
    """Copy the rows there are, tenant by tenant (the tickets' tables force
    the tenant policy on their owner too) in batches of FILL_BATCH rows, each
    batch in a transaction of its own, while the app goes on working."""
    connection = schema_editor.connection
    schema = _schema(schema_editor)
    tenants = apps.get_model("helpdesk", "Tenant").objects.using(connection.alias)
    for tenant_id in tenants.order_by("pk").values_list("pk", flat=True):
        for source in SOURCES:
            after = 0
            while after is not None:
                after = _fill_batch(connection, schema, source, tenant_id, after)


def _fill_batch(connection, schema: str, source: dict, tenant_id: int, after: int) -> int | None:
    for attempt in range(5):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
                cursor.execute(_fill_sql(schema, source), {"after": after, "size": FILL_BATCH})
                return cursor.fetchone()[0]
        except (IntegrityError, OperationalError):
            # A deadlock with an edit, or a row deleted while it was copied
            # (its copy has nothing to point at): again, from a newer snapshot.
            if attempt == 4:
                raise


def drop_search_plumbing(apps, schema_editor):
    schema = _schema(schema_editor)
    schema_editor.execute(f"DROP FUNCTION {schema}.{MATCHES_FUNCTION}")
    for source in SOURCES:
        for suffix in ("added", "changed"):
            schema_editor.execute(f"DROP FUNCTION {schema}.{source['search']}_{suffix}() CASCADE")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tickets", "0021_event_handler_retries"),
    ]

    operations = [
        migrations.CreateModel(
            name="TicketSearch",
            fields=[
                ("ticket_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("tenant_id", models.BigIntegerField()),
                ("search_vector", SearchVectorField()),
            ],
            options={"db_table": "tickets_ticket_search"},
        ),
        migrations.CreateModel(
            name="ContactSearch",
            fields=[
                ("contact_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("tenant_id", models.BigIntegerField()),
                ("search_vector", SearchVectorField()),
            ],
            options={"db_table": "tickets_contact_search"},
        ),
        migrations.CreateModel(
            name="MessageSearch",
            fields=[
                ("message_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("tenant_id", models.BigIntegerField()),
                ("ticket_id", models.BigIntegerField()),
                ("search_vector", SearchVectorField()),
            ],
            options={"db_table": "tickets_message_search"},
        ),
        migrations.RunPython(create_search_plumbing, drop_search_plumbing),
        migrations.RunPython(fill_search_tables, migrations.RunPython.noop, atomic=False),
        # After the rows are in: one build each, not millions of index inserts;
        # CONCURRENTLY, so the triggers' writes (the app's) do not wait for it.
        AddIndexConcurrently(
            model_name="ticketsearch",
            index=GinIndex(fields=["tenant_id", "search_vector"], name="search_ticket_idx"),
        ),
        AddIndexConcurrently(
            model_name="contactsearch",
            index=GinIndex(fields=["tenant_id", "search_vector"], name="search_contact_idx"),
        ),
        AddIndexConcurrently(
            model_name="messagesearch",
            index=GinIndex(fields=["tenant_id", "search_vector"], name="search_message_idx"),
        ),
    ]
