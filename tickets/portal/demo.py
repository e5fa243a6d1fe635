"""The portal's part of `seed_demo`: one demo customer's link, printed for
a newcomer to open right after `make run`."""

from django.conf import settings
from django.urls import reverse

from ..models import Message, Ticket
from .services import portal_link_token, portal_ticket_url


def portal_demo_seed(tenant, stdout) -> None:
    """Print the customer's link to a demo ticket with a public reply (the
    same link the demo's mail carried, until an agent revokes it)."""
    ticket = (
        Ticket.objects.select_related("tenant", "requester")
        .filter(status__in=Ticket.OPEN_STATUSES, messages__kind=Message.Kind.REPLY)
        .order_by("number")
        .first()
    ) or Ticket.objects.select_related("tenant", "requester").order_by("number").first()
    if ticket is None:
        return
    url = portal_ticket_url(
        ticket=ticket, token=portal_link_token(ticket=ticket, email=ticket.requester.email)
    )
    sign_in = settings.PUBLIC_BASE_URL + reverse("portal:home", args=[tenant.slug])
    stdout.write(f"{tenant.name}: customer portal, {ticket.reference} as {ticket.requester.email}:")
    stdout.write(f"  {url}")
    stdout.write(f"  sign-in by emailed link: {sign_in}")
