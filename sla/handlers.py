"""What SLA does when a ticket changes: recompute its targets."""

from contextlib import contextmanager
from contextvars import ContextVar

from tickets.events import batch_scope, subscribe
from tickets.models import Event, Message

from .services.timers import LoadedPolicy, policies_load, sla_recompute

# Inside a batch of events: a holder for the tenant's policies, loaded by
# the batch's first recompute (four queries) and used by the rest.
_batch_policies: ContextVar[list | None] = ContextVar("sla_batch_policies", default=None)

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
    sla_recompute(ticket=event.ticket, loaded=_policies())


def _policies() -> list[LoadedPolicy] | None:
    """The policies loaded once for this batch of events; None outside one
    (the recompute loads them itself)."""
    holder = _batch_policies.get()
    if holder is None:
        return None
    if not holder:
        holder.append(policies_load())
    return holder[0]


@contextmanager
def _policies_for_the_batch():
    # A batch is one transaction, and no handler edits policies.
    token = _batch_policies.set([])
    try:
        yield
    finally:
        _batch_policies.reset(token)


batch_scope("sla.policies", _policies_for_the_batch)
