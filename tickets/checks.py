"""System checks of the ticket app: things an operator must set up outside it."""

from django.core import checks
from django.db import connections


def search_index_check(app_configs, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when row-level security keeps search off its GIN indexes."""
    if not databases or "default" not in databases:
        return []
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT proleakproof FROM pg_proc"
            " WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure"
        )
        if cursor.fetchone()[0]:
            return []
    return [
        checks.Warning(
            "Ticket search will scan every row of a tenant: under row-level security the "
            "planner uses the search indexes only if the text-match operator is LEAKPROOF.",
            hint="As a superuser, in this database and in template1: ALTER FUNCTION "
            "pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF; (README, 'Search').",
            id="tickets.W001",
        )
    ]
