"""The ticket app's own event handlers."""

from . import mail
from .events import subscribe
from .models import Event, Message, OutboundEmail, Ticket

# Notifications (the bell, mail digests) have their handlers in tickets.notifications.
from .notifications import notify_assignee  # noqa: F401

# Channels where the customer wrote in and expects to hear that we have it.
ACKNOWLEDGED_CHANNELS = {Ticket.Channel.EMAIL, Ticket.Channel.WEB, Ticket.Channel.PORTAL}


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
