"""Dispatch learns about tickets from their events (subscribed on import,
from `DispatchConfig.ready()`)."""

from tickets.events import subscribe
from tickets.models import Event

from .models import RoutingDecision
from .services import agent_groups_drain, ticket_route

# Statuses that take a ticket off its assignee's active load.
ROOM_FREEING = {"pending", "on_hold", "resolved", "closed"}


@subscribe("dispatch.route_new_ticket", kinds=[Event.Kind.CREATED])
def route_new_ticket(event: Event) -> None:
    """Route a new ticket: rules, then its group's mode and strategy."""
    follow_up = (event.new_value or {}).get("follow_up_of")
    trigger = RoutingDecision.Trigger.FOLLOW_UP if follow_up else RoutingDecision.Trigger.CREATED
    ticket_route(ticket=event.ticket, trigger=trigger)


def _frees_room(event: Event) -> bool:
    if event.kind == Event.Kind.STATUS_CHANGED:
        return (event.new_value or {}).get("value") in ROOM_FREEING and bool(
            event.ticket.assignee_id
        )
    # Taken from someone (unassigned, or given to another agent).
    return bool(event.old_value)


@subscribe(
    "dispatch.hand_out_freed_room",
    kinds=[Event.Kind.STATUS_CHANGED, Event.Kind.ASSIGNED],
    when=_frees_room,
)
def hand_out_freed_room(event: Event) -> None:
    """An agent has room again: give their groups' waiting tickets out."""
    if event.kind == Event.Kind.STATUS_CHANGED:
        user_id = event.ticket.assignee_id
    else:
        user_id = (event.old_value or {}).get("value")
    if user_id:
        agent_groups_drain(user_id=user_id)
