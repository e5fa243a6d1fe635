"""Dispatch learns about tickets from their events (subscribed on import,
from `DispatchConfig.ready()`)."""

from django.urls import reverse

from helpdesk.notifications import notification_create
from sla.services.alerts import BREACH_EVENT
from tickets.events import subscribe
from tickets.models import Event

from .models import GroupDispatch, RoutingDecision
from .services import SOURCE, agent_groups_drain
from .services.acceptance import acceptance_open
from .services.breach import ticket_escalate_on_breach
from .services.drain import new_ticket_route

# Statuses that take a ticket off its assignee's active load.
ROOM_FREEING = {"pending", "on_hold", "resolved", "closed"}


# Express: a new ticket is routed as it arrives, not behind a backlog of
# other handlers (report figures, SLA clocks).
@subscribe("dispatch.route_new_ticket", kinds=[Event.Kind.CREATED], express=True)
def route_new_ticket(event: Event) -> None:
    """Route a new ticket: rules, then its group's mode and strategy."""
    follow_up = (event.new_value or {}).get("follow_up_of")
    trigger = RoutingDecision.Trigger.FOLLOW_UP if follow_up else RoutingDecision.Trigger.CREATED
    new_ticket_route(ticket=event.ticket, trigger=trigger)


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
    express=True,
)
def hand_out_freed_room(event: Event) -> None:
    """An agent has room again: give their groups' waiting tickets out."""
    if event.kind == Event.Kind.STATUS_CHANGED:
        user_id = event.ticket.assignee_id
    else:
        user_id = (event.old_value or {}).get("value")
    if user_id:
        agent_groups_drain(user_id=user_id)


# A customer's rating event (tickets/portal) and its "bad" mark.
RATED = "rated"
LEADER_KIND = "dispatch.group_leader"


def _leader_hears(event: Event) -> bool:
    if event.kind == RATED:
        return (event.new_value or {}).get("is_good") is False
    return event.kind == BREACH_EVENT


@subscribe("dispatch.tell_group_leader", kinds=[RATED, BREACH_EVENT], when=_leader_hears)
def tell_group_leader(event: Event) -> None:
    """A bad rating or a breached SLA target: the leader of the ticket's group hears of it."""
    ticket = event.ticket
    if not ticket.group_id:
        return
    leader_id = (
        GroupDispatch.objects.filter(group_id=ticket.group_id)
        .values_list("leader_id", flat=True)
        .first()
    )
    # The assignee hears of it on their own (the portal's and SLA's notices).
    if not leader_id or leader_id == ticket.assignee_id:
        return
    what = "Bad rating" if event.kind == RATED else "SLA target breached"
    notification_create(
        user_id=leader_id,
        text=f"{what} in your group on {ticket.reference}: {ticket.subject}"[:300],
        url=reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number]),
        source_key=f"leader:event:{event.pk}",
        kind=LEADER_KIND,
    )


def _assigned_by_routing(event: Event) -> bool:
    # An agent's or a dispatcher's own assignment needs no acceptance; a
    # wait it made stale ends when the sweep or a click finds it stale.
    return event.actor_system == SOURCE and bool((event.new_value or {}).get("value"))


@subscribe("dispatch.ask_acceptance", kinds=[Event.Kind.ASSIGNED], when=_assigned_by_routing)
def ask_acceptance(event: Event) -> None:
    """An automatic assignment in a group that asks for acceptance: the
    assignee's minutes start (and an older wait that no longer fits ends)."""
    acceptance_open(event=event)


@subscribe("dispatch.escalate_on_breach", kinds=[BREACH_EVENT])
def escalate_on_breach(event: Event) -> None:
    """A breached SLA target moves the ticket to the next tier, when its group says so."""
    ticket_escalate_on_breach(event=event)
