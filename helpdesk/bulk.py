"""Many rows of one model written with one INSERT from one JSON document.

Django 5.2's `bulk_create` on Postgres sends each column as an array
parameter. The app binds parameters on the client side (psycopg's client
cursor), and psycopg quotes every element of a text or jsonb array in
Python, one regular-expression substitution per quote: for rows that carry
JSON (an event's old and new values, a routing decision's candidates) that
quoting was a sixth of the cost of writing them. One JSON document is one
string parameter, escaped once by libpq, and Postgres unpacks it with
`jsonb_populate_recordset`.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import JSONField, Model


def _plain(field, value):
    """A field's value as JSON that Postgres reads back as the column's type."""
    if value is None or isinstance(field, JSONField):
        return value  # a JSON column's value goes in as JSON; None is NULL
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        # Here, not by DjangoJSONEncoder: it cuts microseconds to milliseconds.
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def rows_insert(objs: list[Model]) -> list[Model]:
    """INSERT the unsaved instances (one model, with an automatic primary
    key) with one statement, in order, and set their primary keys, as
    `bulk_create` does. Field defaults are the instances' own; `pre_save`
    runs as on a save (auto_now_add)."""
    if not objs:
        return objs
    meta = type(objs[0])._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    rows = [
        {f.column: _plain(f, f.pre_save(obj, add=True)) for f in fields}
        for obj in objs
    ]  # fmt: skip
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    pk = connection.ops.quote_name(meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns}"
            f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS r"
            f" ORDER BY r.ordinality RETURNING {pk}",
            [json.dumps(rows, cls=DjangoJSONEncoder)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk_value in zip(objs, ids, strict=True):
        obj.pk = pk_value
        obj._state.adding, obj._state.db = False, connection.alias
    return objs
