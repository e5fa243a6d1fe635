"""The ticket app's own event handlers."""

from django.urls import reverse

from helpdesk.services import notification_create

from . import mail
from .events import subscribe
from .extensions import system_actor_label
from .models import Event, Message, OutboundEmail, Ticket

# Channels where the customer wrote in and expects to hear that we have it.
ACKNOWLEDGED_CHANNELS = {Ticket.Channel.EMAIL, Ticket.Channel.WEB, Ticket.Channel.PORTAL}


def _assigned_by_someone_else(event: Event) -> bool:
    assignee_id = (event.new_value or {}).get("value")
    return bool(assignee_id) and assignee_id != event.actor_user_id


@subscribe("tickets.notify_assignee", kinds=[Event.Kind.ASSIGNED], when=_assigned_by_someone_else)
def notify_assignee(event: Event) -> None:
    """Tell an agent that a ticket was given to them by someone else."""
    assignee_id = event.new_value["value"]
    ticket = event.ticket
    if event.actor_user_id:
        who = event.actor_user.get_full_name()
    else:
        who = system_actor_label(event.actor_system) if event.actor_system else "Routing"
    notification_create(
        user_id=assignee_id,
        text=f"{who} assigned {ticket.reference} to you: {ticket.subject}",
        url=reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number]),
        source_key=f"event:{event.pk}",
    )


def _wants_acknowledgement(event: Event) -> bool:
    # Never in answer to an automatic mail: that is how mail loops start.
    details = event.new_value or {}
    return details.get("channel") in ACKNOWLEDGED_CHANNELS and details.get("acknowledge", True)


def _is_public_reply(event: Event) -> bool:
    return (event.new_value or {}).get("kind") == Message.Kind.REPLY


@subscribe("tickets.email_acknowledgement", kinds=[Event.Kind.CREATED], when=_wants_acknowledgement)
def email_acknowledgement(event: Event) -> None:
    """Tell a customer who wrote in that their request arrived."""
    first = event.ticket.messages.order_by("created_at", "pk").first()
    if first is not None:
        mail.outbound_for_message(message=first, kind=OutboundEmail.Kind.ACKNOWLEDGEMENT)


@subscribe("tickets.email_public_reply", kinds=[Event.Kind.MESSAGE_ADDED], when=_is_public_reply)
def email_public_reply(event: Event) -> None:
    """Send an agent's public reply to the requester and the CCs."""
    mail.outbound_for_message(message=event.message, kind=OutboundEmail.Kind.REPLY)
