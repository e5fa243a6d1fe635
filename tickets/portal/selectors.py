"""Reads of the customer portal: what a link opens, what the customer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from helpdesk.tenancy import current_tenant

from ..models import Attachment, Contact, Event, Message, PortalLink, PortalSettings, Rating, Ticket
from . import tokens

# What a customer sees of a ticket's timeline: messages (public ones only,
# the query says so too), status changes and ratings. Nothing else: no
# assignments, field changes, deadlines or delivery reports.
PORTAL_EVENT_KINDS = (Event.Kind.MESSAGE_ADDED, Event.Kind.STATUS_CHANGED, "rated")
PUBLIC_MESSAGE_KINDS = (Message.Kind.CUSTOMER, Message.Kind.REPLY)

# The status in the customer's words.
CUSTOMER_STATUS = {
    Ticket.Status.NEW: gettext_noop("Received"),
    Ticket.Status.OPEN: gettext_noop("In progress"),
    Ticket.Status.PENDING: gettext_noop("Waiting for your reply"),
    Ticket.Status.ON_HOLD: gettext_noop("On hold"),
    Ticket.Status.RESOLVED: gettext_noop("Solved"),
    Ticket.Status.CLOSED: gettext_noop("Closed"),
}


def portal_settings() -> PortalSettings:
    """The current tenant's portal settings (the defaults when none were saved)."""
    tenant = current_tenant()
    cached = getattr(tenant, "_portal_settings", None)
    if cached is None:
        cached = PortalSettings.objects.filter(tenant=tenant).first() or PortalSettings(
            tenant=tenant
        )
        tenant._portal_settings = cached
    return cached


@dataclass
class PortalAccess:
    """Who opened a ticket in the portal, and how: by a ticket link
    (`link`) or signed in (`contact`). `base` is the URL prefix the page's
    actions hang under."""

    ticket: Ticket
    email: str
    link: PortalLink | None = None
    contact: Contact | None = None


def viewer_contact(access: PortalAccess) -> Contact:
    """The contact a page is shown to: the signed-in one, the requester
    (no query), or the CC's contact row."""
    if access.contact is not None:
        return access.contact
    ticket = access.ticket
    if ticket.requester.email == access.email:
        return ticket.requester
    return Contact.objects.filter(email=access.email).first() or Contact(
        tenant=ticket.tenant, email=access.email
    )


def portal_link_find(*, number: int, token: str) -> PortalLink | None:
    """The live link `token` opens for ticket `number` in the current tenant,
    with its ticket; None for a malformed, wrong, revoked or other ticket's
    token (one answer, and as far as practical one timing, for all)."""
    parts = tokens.token_split(token)
    if parts is None:
        tokens.token_matches("", None)
        return None
    selector, verifier = parts
    link = (
        PortalLink.objects.select_related(
            "ticket", "ticket__tenant", "ticket__assignee", "ticket__group", "ticket__requester"
        )
        .filter(selector=selector)
        .first()
    )
    if not tokens.token_matches(verifier, link.verifier_sha256 if link else None):
        return None
    if link.revoked_at is not None or link.ticket.number != number:
        return None
    return link


def contact_may_see(contact: Contact, ticket: Ticket) -> bool:
    """A signed-in contact sees their own tickets, those they are copied
    on, and their organisation's where it shares them."""
    if ticket.requester_id == contact.pk or contact.email in ticket.cc_emails:
        return True
    organization = contact.organization
    return bool(
        organization
        and organization.portal_shares_tickets
        and ticket.requester.organization_id == organization.pk
    )


# Tickets on one page of a signed-in customer's list.
MY_TICKETS_PAGE_SIZE = 20
# The most tickets a customer's copies are looked for in (their links).
MAILED_TICKETS_MAX = 5000


@dataclass
class TicketPage:
    """One page of a customer's tickets, newest first, and the ticket
    numbers the "Older" and "Newer" links carry (None: no such page)."""

    tickets: list[Ticket]
    older: int | None
    newer: int | None


def contact_tickets(
    *, contact: Contact, before: int | None = None, after: int | None = None, size: int = 0
) -> TicketPage:
    """A page of a signed-in contact's tickets, newest first: their own,
    those they are copied on and were mailed about, and their
    organisation's where it shares them. The page below ticket number
    `before` ("Older"), above `after` ("Newer"), else the newest. Cut by
    keyset on the per-tenant number (never OFFSET), in three queries
    whatever the page size: the tickets the contact was mailed links to
    (portallink_email_idx: an array match cannot use an index under
    row-level security, so a CC's tickets are found through their links),
    the page's numbers, each part from a tenant-first index
    (ticket_requester_number_idx, the ticket ids), then the rows."""
    size = size or MY_TICKETS_PAGE_SIZE
    ascending = after is not None
    if ascending:
        keyset, order = Q(number__gt=after), "number"
    else:
        keyset, order = (Q(number__lt=before) if before is not None else Q()), "-number"
    # Read first, so Postgres looks the few tickets up by id rather than
    # walk the tenant's tickets by number until enough of them match.
    mailed = set(
        PortalLink.objects.filter(email=contact.email).values_list("ticket_id", flat=True)[
            :MAILED_TICKETS_MAX
        ]
    )
    parts = [Q(requester=contact)]
    if mailed:
        parts.append(Q(pk__in=mailed, cc_emails__contains=[contact.email]))
    organization = contact.organization
    if organization and organization.portal_shares_tickets:
        parts.append(Q(requester__organization=organization))
    numbers = [
        Ticket.objects.filter(part, keyset)
        .order_by(order)
        .values_list("number", flat=True)[: size + 1]
        for part in parts
    ]
    if len(numbers) > 1:
        found = list(numbers[0].union(*numbers[1:]).order_by(order)[: size + 1])
    else:
        found = list(numbers[0])
    more = len(found) > size
    found = found[:size]
    rows = (
        list(
            Ticket.objects.filter(number__in=found)
            .select_related("requester", "tenant")
            .order_by("-number")
        )
        if found
        else []
    )
    if ascending:
        # Came from an older page, which is still there.
        return TicketPage(rows, older=rows[-1].number if rows else None,
                          newer=rows[0].number if more else None)  # fmt: skip
    return TicketPage(
        rows,
        older=rows[-1].number if more else None,
        newer=rows[0].number if rows and before is not None else None,
    )


def portal_timeline(*, ticket: Ticket) -> list[Event]:
    """What the customer sees happen on a ticket, oldest first: public
    messages with their attachments, status changes and ratings."""
    return list(
        Event.objects.filter(ticket=ticket, is_public=True, kind__in=PORTAL_EVENT_KINDS)
        .filter(Q(message__isnull=True) | Q(message__kind__in=PUBLIC_MESSAGE_KINDS))
        .select_related("actor_user", "actor_contact", "message__author_user")
        .prefetch_related(
            Prefetch("message__attachments", queryset=Attachment.objects.order_by("pk"))
        )
        .order_by("created_at", "pk")
    )


def portal_attachment(*, ticket: Ticket, attachment_id: int) -> Attachment | None:
    """An attachment of one of the ticket's public messages, else None."""
    return (
        Attachment.objects.filter(
            pk=attachment_id, message__ticket=ticket, message__kind__in=PUBLIC_MESSAGE_KINDS
        )
        .only("file", "filename", "content_type")
        .first()
    )


def current_rating(*, ticket: Ticket) -> Rating | None:
    """The rating of the ticket's current solved cycle, if given."""
    if not ticket.resolved_at:
        return None
    return Rating.objects.filter(ticket=ticket, solved_at=ticket.resolved_at).first()


def handler_name(ticket: Ticket) -> str:
    """Who handles it, as a customer may read it: the agent's first name,
    else the team's name, else nobody yet."""
    if ticket.assignee_id and ticket.assignee.first_name:
        return ticket.assignee.first_name
    if ticket.group_id:
        return ticket.group.name
    return ""


def csat_for_agent(*, user_id: int) -> tuple[int, int]:
    """(good ratings, all ratings) of an agent's tickets in the last 30 days
    (rating_assignee_idx)."""
    since = timezone.now() - timedelta(days=30)
    row = Rating.objects.filter(assignee_id=user_id, created_at__gte=since).aggregate(
        good=Count("pk", filter=Q(is_good=True)), total=Count("pk")
    )
    return row["good"], row["total"]
