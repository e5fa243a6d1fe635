"""The ticket app's own event handlers."""

from django.urls import reverse

from helpdesk.services import notification_create

from .events import subscribe
from .models import Event


@subscribe("tickets.notify_assignee", kinds=[Event.Kind.ASSIGNED])
def notify_assignee(event: Event) -> None:
    """Tell an agent that a ticket was given to them by someone else."""
    assignee_id = (event.new_value or {}).get("value")
    if not assignee_id or assignee_id == event.actor_user_id:
        return
    ticket = event.ticket
    who = event.actor_user.get_full_name() if event.actor_user_id else "Routing"
    notification_create(
        user_id=assignee_id,
        text=f"{who} assigned {ticket.reference} to you: {ticket.subject}",
        url=reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number]),
        source_key=f"event:{event.pk}",
    )
