"""The reports app's event handler: every ticket event keeps its ticket's
fact current (reports.services.fact_refresh)."""

from tickets.events import subscribe


@subscribe("reports.ticket_facts")
def ticket_fact_refresh(event) -> None:
    """Keep the ticket's report figures current."""
    from .services import fact_refresh

    fact_refresh(ticket_id=event.ticket_id)
