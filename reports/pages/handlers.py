"""The report pages' event handlers: an event that can change a ticket's
spells, replies or tags folds the ticket's events again
(reports.pages.services.page_facts_refresh); a new agent or category moves
its share of the daily rollups to its new key (page_key_refresh)."""

from tickets.events import subscribe

# Imported from ReportsConfig.ready(): this registers the pages' facts with
# Django (the reports app's models module belongs to the dashboard) and
# lets the workers learn the pages' beat task.
from . import models, tasks  # noqa: F401
from .fold import SPELL_FIELDS


def changes_a_page_fact(event) -> bool:
    """Whether `event` can change a ticket's spells, replies or tags."""
    if event.kind == "message_added":
        return (event.new_value or {}).get("kind") == "reply"
    if event.kind == "created":
        return True
    return event.field in (*SPELL_FIELDS, "tags")


@subscribe("reports.page_facts", when=changes_a_page_fact, once_per_ticket=True)
def ticket_page_facts_refresh(event) -> None:
    """Keep the ticket's time in each status and group, replies and tags current."""
    from .services import page_facts_refresh

    page_facts_refresh(ticket_id=event.ticket_id)


def changes_a_page_key(event) -> bool:
    """Whether `event` changes what a ticket's rows are counted under in
    the daily rollups, and nothing else the page facts hold."""
    return event.field in ("assignee", "category")


@subscribe("reports.page_key", when=changes_a_page_key, once_per_ticket=True)
def ticket_page_key_refresh(event) -> None:
    """Count the ticket's stays and replies under its new agent or category."""
    from .services import page_key_refresh

    page_key_refresh(ticket_id=event.ticket_id)
