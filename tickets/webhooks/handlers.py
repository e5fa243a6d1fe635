"""The ticket event handler that writes webhook deliveries."""

from helpdesk.tenancy import tenant_memo

from ..events import subscribe
from ..models import Event, Webhook
from . import payloads, services

_WANTED = "tickets.webhooks.wanted"


def wanted_event_names() -> frozenset[str]:
    """The events the current tenant's active webhooks ask for, read once per
    tenant transaction (events are recorded in bulk: one query, not one per
    event). The webhook services drop it when they change a webhook."""
    memo = tenant_memo()
    if _WANTED not in memo:
        names = Webhook.objects.filter(is_active=True).values_list("events", flat=True)
        memo[_WANTED] = frozenset(name for events in names for name in events)
    return memo[_WANTED]


def _may_be_sent(event: Event) -> bool:
    # An event no webhook asks for is not handed to this handler, so in a
    # tenant without webhooks events stay done the moment they are written.
    name = payloads.event_name_for(event)
    return name is not None and name in wanted_event_names()


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
