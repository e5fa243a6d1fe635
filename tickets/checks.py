"""System checks of the ticket app: things an operator must set up outside it."""

from django.core import checks
from django.db import connections

SEARCH_TABLES = ["tickets_ticket_search", "tickets_contact_search", "tickets_message_search"]
MATCHES_FUNCTION = "tickets_search_matches(tsquery, integer)"


def search_index_check(app_configs, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when ticket search cannot use its GIN indexes: the search function
    reads the search tables past their tenant policy only while it is a
    SECURITY DEFINER function of the tables' owner and they do not FORCE the
    policy on that owner (migration tickets 0018, README "Search"). An error
    when a search table has row-level security off: the app's role could then
    read every tenant's words."""
    if not databases or "default" not in databases:
        return []
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, p.prosecdef, c.relowner = p.proowner,"
            " c.relforcerowsecurity,"
            " has_function_privilege(p.oid, 'EXECUTE')"
            " FROM pg_proc p JOIN pg_class c ON c.relnamespace = p.pronamespace"
            " WHERE p.oid = to_regprocedure(%s) AND c.relname = ANY(%s) AND c.relkind = 'r'"
            " ORDER BY c.relname",
            [MATCHES_FUNCTION, SEARCH_TABLES],
        )
        rows = cursor.fetchall()
    if not rows:
        return []  # not migrated yet: `migrate` makes them
    unwalled = [table for table, walled, *_ in rows if not walled]
    if unwalled:
        return [
            checks.Error(
                f"Row-level security is off on {', '.join(unwalled)}: the app's role can read "
                "every tenant's words there.",
                hint="As the owner of the tables: ALTER TABLE ... ENABLE ROW LEVEL SECURITY "
                "(README, 'Search').",
                id="tickets.E001",
            )
        ]
    problems = []
    for table, _walled, definer, same_owner, forced, may_execute in rows:
        if not may_execute:
            problems.append(f"this role may not execute {MATCHES_FUNCTION}")
        if not definer:
            problems.append(f"{MATCHES_FUNCTION} is not SECURITY DEFINER")
        if not same_owner:
            problems.append(f"{table} and {MATCHES_FUNCTION} have different owners")
        if forced:
            problems.append(f"{table} forces row-level security on its owner")
    if not problems:
        return []
    return [
        checks.Warning(
            "Ticket search will read every row of a tenant or fail: "
            + "; ".join(dict.fromkeys(problems))
            + ".",
            hint="Run `manage.py migrate` as the role that owns the tables "
            "(MIGRATE_DATABASE_URL): it grants the app's role EXECUTE; the search tables and "
            "the function must have that one owner, and the tables must not be set to FORCE "
            "ROW LEVEL SECURITY (README, 'Search').",
            id="tickets.W001",
        )
    ]


def extensions_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Every template a registered part names exists, and every settings
    page's URL name reverses: a typo fails at start-up, not on a page."""
    from django.template import TemplateDoesNotExist, loader
    from django.urls import NoReverseMatch

    from helpdesk.extensions import settings_sections

    from . import extensions

    errors = []
    for registry in (
        extensions.ticket_panels,
        extensions.queue_columns,
        extensions.queue_badges,
        extensions.event_kinds,
        extensions.portal_blocks,
    ):
        for item in registry:
            if not item.template:
                continue
            try:
                loader.get_template(item.template)
            except TemplateDoesNotExist:
                errors.append(
                    checks.Error(
                        f"{registry.name} {item.name!r}: no template {item.template!r}.",
                        id="tickets.E001",
                    )
                )
    for section in settings_sections:
        try:
            section.url("tenant")
        except NoReverseMatch:
            errors.append(
                checks.Error(
                    f"settings_sections {section.name!r}: no URL named {section.url_name!r} "
                    "that takes a tenant slug.",
                    id="tickets.E002",
                )
            )
    return errors
