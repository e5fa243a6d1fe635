"""The reports app's event handler: a ticket event that changes a figure
keeps its ticket's fact current (reports.services.fact_refresh)."""

from tickets.events import batch_scope, subscribe

# Fields whose change moves a ticket between the reports' filters.
DIMENSION_FIELDS = {"status", "priority", "channel", "category", "group", "assignee", "requester"}
# Events the SLA app writes when it has recomputed a ticket's targets: a
# new deadline (a target met moves it) and a breach. The fact then takes the
# targets' outcomes and business times as they now stand.
SLA_EVENT_KINDS = {"sla_breached"}
SLA_FIELDS = {"due_at"}


def changes_a_figure(event) -> bool:
    """Whether folding `event` can change a figure. Customers' messages,
    internal notes, tags, deadlines and other apps' kinds cannot, and such
    events still finish the moment they are written when nothing else wants
    them. Whatever an event not taken here changed on the ticket is picked
    up by the next one that is.

    SLA's handler of the same event runs before this one (apps subscribe
    in INSTALLED_APPS order, and one event's handlers run in that order), so
    a reply's fold already sees the target it met; the SLA app's own events
    (a new deadline, a breach) cover a recompute that ran apart from it."""
    if event.kind == "message_added":
        # Public replies (first reply, replies); not customers' messages or notes.
        return (event.new_value or {}).get("kind") == "reply"
    if event.kind in ("created", "status_changed", "assigned", "rated", *SLA_EVENT_KINDS):
        return True
    return event.kind == "field_changed" and event.field in DIMENSION_FIELDS | SLA_FIELDS


@subscribe("reports.ticket_facts", when=changes_a_figure, once_per_ticket=True)
def ticket_fact_refresh(event) -> None:
    """Keep the ticket's report figures current."""
    from .services import fact_refresh

    fact_refresh(ticket_id=event.ticket_id)


def _rollups_gathered():
    from .services import rollups_gathered

    return rollups_gathered()


# The handlers' rollup changes of a batch of events are written together at
# its end, in one order (reports.services.rollups_gathered).
batch_scope("reports.rollups", _rollups_gathered)
