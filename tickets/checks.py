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
