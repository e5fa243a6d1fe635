"""The ticket event handler that writes webhook deliveries."""

from ..events import subscribe
from ..models import Event
from . import payloads, services


def _may_be_sent(event: Event) -> bool:
    # Decided from the row alone (no query): the handler itself looks for
    # webhooks that want it, and does nothing in a tenant without any.
    return payloads.event_name_for(event) is not None


@subscribe(
    "tickets.webhooks",
    kinds=[
        Event.Kind.CREATED,
        Event.Kind.MESSAGE_ADDED,
        Event.Kind.STATUS_CHANGED,
        Event.Kind.ASSIGNED,
        Event.Kind.FIELD_CHANGED,
    ],
    when=_may_be_sent,
)
def webhooks_deliver(event: Event) -> None:
    """Post the event to the help desk's webhooks that asked for it."""
    services.deliveries_record(event=event)
