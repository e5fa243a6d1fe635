"""What SLA does when a ticket changes: recompute its targets."""

from tickets.events import subscribe
from tickets.models import Event

from .services.timers import sla_recompute

# Fields whose change can choose another policy or target.
POLICY_FIELDS = frozenset({"priority", "type", "category", "tags", "group", "channel", "requester"})


def _matters(event: Event) -> bool:
    return event.kind != Event.Kind.FIELD_CHANGED or event.field in POLICY_FIELDS


@subscribe(
    "sla.recompute",
    kinds=[
        Event.Kind.CREATED,
        Event.Kind.FIELD_CHANGED,
        Event.Kind.STATUS_CHANGED,
        Event.Kind.MESSAGE_ADDED,
    ],
    when=_matters,
)
def sla_on_ticket_event(event: Event) -> None:
    """Recompute the ticket's SLA targets and due time."""
    sla_recompute(ticket=event.ticket)
