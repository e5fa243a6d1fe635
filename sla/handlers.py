"""What SLA does when a ticket changes: recompute its targets."""

from tickets.events import batch_scope, subscribe
from tickets.models import Event, Message

from .services.timers import policies_kept, sla_recompute

# Fields whose change can choose another policy or target.
POLICY_FIELDS = frozenset({"priority", "type", "category", "tags", "group", "channel", "requester"})


def _matters(event: Event) -> bool:
    if event.kind == Event.Kind.FIELD_CHANGED:
        return event.field in POLICY_FIELDS
    if event.kind == Event.Kind.MESSAGE_ADDED:
        kind = (event.new_value or {}).get("kind")
        # A public reply meets a response target; a customer message starts
        # a next response only after the team has replied once. Notes and
        # messages before any reply change nothing.
        return kind == Message.Kind.REPLY or (
            kind == Message.Kind.CUSTOMER and event.ticket.first_response_at is not None
        )
    return True


@subscribe(
    "sla.recompute",
    kinds=[
        Event.Kind.CREATED,
        Event.Kind.FIELD_CHANGED,
        Event.Kind.STATUS_CHANGED,
        Event.Kind.MESSAGE_ADDED,
        # An assignment starts a new quiet spell for no-activity reminders.
        Event.Kind.ASSIGNED,
    ],
    when=_matters,
    once_per_ticket=True,
)
def sla_on_ticket_event(event: Event) -> None:
    """Recompute the ticket's SLA targets and due time."""
    sla_recompute(ticket=event.ticket)


# A batch of events loads the tenant's policies once (and again after an edit).
batch_scope("sla.policies", policies_kept)
