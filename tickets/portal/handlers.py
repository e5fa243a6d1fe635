"""The portal's event handlers and its registrations (event kinds, the
agent's ticket panel, the queue's CSAT figure)."""

from django.urls import reverse
from django.utils.translation import gettext

from helpdesk.services import notification_create

from ..events import subscribe
from ..models import Event, OutboundEmail, Ticket
from .mail import portal_mail_record
from .services import BAD_RATING_KIND, LINKS_RESET, RATED


def _solved(event: Event) -> bool:
    return event.field == "status" and (event.new_value or {}).get("value") == "resolved"


@subscribe("portal.solved_mail", kinds=[Event.Kind.STATUS_CHANGED], when=_solved)
def solved_mail(event: Event) -> None:
    """Tell the customer their request is solved and ask them to rate it."""
    ticket = Ticket.objects.select_related("tenant", "requester").get(pk=event.ticket_id)
    if ticket.status == Ticket.Status.RESOLVED:
        portal_mail_record(ticket=ticket, event=event, kind=OutboundEmail.Kind.SOLVED)


@subscribe("portal.links_mail", kinds=[LINKS_RESET])
def links_mail(event: Event) -> None:
    """After an agent reset a ticket's links (or one recipient's), mail each
    recipient concerned their new one."""
    ticket = Ticket.objects.select_related("tenant", "requester").get(pk=event.ticket_id)
    only = (event.new_value or {}).get("email", "")
    portal_mail_record(ticket=ticket, event=event, kind=OutboundEmail.Kind.LINKS, only=only)


def _bad_rating(event: Event) -> bool:
    return (event.new_value or {}).get("is_good") is False


@subscribe("portal.bad_rating", kinds=[RATED], when=_bad_rating)
def notify_bad_rating(event: Event) -> None:
    """A bad rating: the agent who handled the ticket hears of it."""
    ticket = event.ticket
    if not ticket.assignee_id:
        return
    notification_create(
        user_id=ticket.assignee_id,
        text=gettext("Bad rating on %(ref)s: %(subject)s")
        % {"ref": ticket.reference, "subject": ticket.subject},
        url=reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number]),
        source_key=f"event:{event.pk}",
        kind=BAD_RATING_KIND,
    )
